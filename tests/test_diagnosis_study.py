"""vqlib.studies.diagnosis (notebook 05): tokenizers named once with their figure files, picked by what they are,
the verdicts table, and prose facts that fill every template of the notebook - on reports of constructed data,
without training."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
import torch

from vqlib.diagnose import diagnose
from vqlib.studies import BASELINE, DEFERRED, Runs, context, diagnosis, prose
from vqlib.studies.arms import ARMS
from vqlib.studies.core import Case

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "05_diagnose_your_tokenizer.py"


def _report(used: int, k: int = 32, dim: int = 8, seed: int = 0):
    """A report whose codebook has ``used`` codes on the data and the rest far away (never chosen)."""
    gen = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.randn(used, dim, generator=gen)
    z = centres[torch.arange(2000) % used] + 0.5 * torch.randn(2000, dim, generator=gen)
    far = 1000.0 + torch.randn(k - used, dim, generator=gen)
    return diagnose(z, torch.cat([centres, far]))


def _diagnoses(cases: list[Case], reports: list) -> diagnosis.Diagnoses:
    return diagnosis.Diagnoses([diagnosis.Diagnosed(c.labels, c.spec, r) for c, r in zip(cases, reports)])


@pytest.fixture(scope="module")
def ctx():
    return context("smoke")


@pytest.fixture(scope="module")
def peer(ctx):
    return _diagnoses(diagnosis.peer_cases(ctx), [_report(12), _report(10, seed=1), _report(32, seed=2)])


@pytest.fixture(scope="module")
def cifar(ctx):
    return _diagnoses(diagnosis.tokenizer_cases(ctx), [_report(8, 256, 32), _report(230, 256, 32, seed=1),
                                                        _report(256, 256, 32, seed=2)])


def test_every_figure_name_comes_from_the_study_and_the_committed_ones_are_among_them(ctx):
    names = [c.labels["figure"] for c in diagnosis.peer_cases(ctx) + diagnosis.tokenizer_cases(ctx)]
    assert len(set(names)) == len(names) and all(name.startswith("05_") for name in names)
    assert names == [figure for *_, figure in diagnosis.PEER_RUNS] + [figure for _, figure in diagnosis.TOKENIZERS]
    committed = {p.stem for p in (ROOT / "figures").glob("05_*.png")}
    assert committed and committed <= set(names), "a committed figure of notebook 05 that the study does not name"


def test_tokenizers_are_picked_by_what_they_are(peer, cifar):
    assert peer.one(run="random").label == "VectorQuantize, random codebook (its README)"
    assert peer.one(run="deferred").figure == "05_vqtorch_deferred"
    assert cifar.one(arm=BASELINE).figure == "05_cifar_baseline"
    assert cifar.one(arm=DEFERRED).label == "CIFAR-10 deferred"
    assert cifar.one(arm=ARMS["vqtorch"]).labels["arm"] == "vqtorch"
    with pytest.raises(LookupError, match="0 diagnosed tokenizers match"):
        peer.one(run="no such run")
    with pytest.raises(LookupError, match="3 diagnosed tokenizers match"):
        peer.one()


def test_the_runs_are_the_cases_labelled_with_their_tokenizer(ctx):
    peer, tokenizers = diagnosis.peer_cases(ctx), diagnosis.tokenizer_cases(ctx)
    assert [c.labels["run"] for c in peer] == ["random", "kmeans", "deferred"]
    assert [c.labels["arm"] for c in tokenizers] == [BASELINE.id, DEFERRED.id, "vqtorch"]
    assert [c.spec for c in tokenizers] == list(diagnosis.tokenizer_specs(ctx).values())
    reference = diagnosis.reference_cases(ctx)
    assert diagnosis.case_lists(ctx) == {"vector-quantize-pytorch": peer, "tokenizers": tokenizers,
                                         "continuous reference": reference}
    # the calibration: the baseline tokenizer's spec with the quantizer never switched on
    (continuous,) = reference
    baseline = diagnosis.tokenizer_specs(ctx)[tokenizers[0].labels["label"]]
    assert continuous.spec.train.quantize_from == continuous.spec.train.steps == baseline.train.steps
    assert (continuous.spec.model, continuous.spec.data, continuous.spec.seed) == (baseline.model, baseline.data,
                                                                                    baseline.seed)


def test_the_verdicts_table_has_a_row_per_tokenizer_in_order(peer):
    table = diagnosis.verdicts(peer)
    assert list(table.index) == [label for _, label, _ in diagnosis.PEER_RUNS]
    assert list(table.columns) == ["verdict", "utilization", "perplexity", "K", "shrinkage (Euclid.)",
                                   "embedding 99 %-components", "reference 99 %-components", "d"]
    assert table.loc["VectorQuantize, random codebook (its README)", "utilization"] == 0.375
    assert table.loc["VectorQuantize, deferred (vqlib's schedule)", "verdict"] == "healthy"
    assert (table["perplexity"] == table["perplexity"].round(3)).all()


def test_the_provenance_is_the_data_and_the_seed(peer):
    provenance = peer.one(run="random").provenance
    assert provenance.startswith("Gaussian mixture: ") and provenance.endswith("; seed 0")
    assert ", D=8" in provenance  # the mixture's whole description, commas included


def test_facts_hold_the_numbers_and_the_words_of_the_verdicts(peer, cifar, ctx):
    facts = diagnosis.peer_facts(peer, ctx)
    assert facts.random.used == 12 and facts.kmeans.used == 10 and facts.deferred.used_words == "all 32"
    assert facts.kmeans_init == "does not help"
    assert facts.deferred.verdict == "healthy" and facts.random.verdict == "tokens collapse"
    assert facts.scale == "smoke" and facts.shrinkage_min == 0.5
    words = diagnosis.tokenizer_facts(cifar)
    assert words.baseline.used_words == "8 of 256" and words.vqtorch_in_use == "the whole codebook"
    assert words.components_max == "a quarter" and words.res_blocks.endswith("residual block" + (
        "" if cifar.one(arm=BASELINE).spec.model.num_res_blocks == 1 else "s"))
    assert words.steps == cifar.one(arm=BASELINE).spec.train.steps
    assert words.deferred_fixes.startswith("fixes the tokens")


@pytest.mark.parametrize("ratio, words", [(0.156, "a sixth as wide as"), (0.5, "half as wide as"),
                                          (1.02, "as wide as"), (1.6, "wider than"), (0.7, "narrower than"),
                                          (0.01, "a small fraction as wide as")])
def test_spread_ratios_in_words(ratio, words):
    assert diagnosis._as_wide(ratio) == words


def _templates() -> list[tuple[str, str]]:
    """(facts function, template) of every say() cell of notebook 05."""
    found = []
    for node in ast.walk(ast.parse(NOTEBOOK.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "say":
            facts_call, template = node.args
            found.append((facts_call.func.attr, template.value))
    return found


def test_every_template_of_the_notebook_renders_from_its_facts(peer, cifar, ctx):
    templates = dict(_templates())
    assert set(templates) == {"peer_facts", "tokenizer_facts"}
    peer_text = prose.render(templates["peer_facts"], diagnosis.peer_facts(peer, ctx))
    assert "**healthy**" in peer_text and "12 of 32 codes used" in peer_text and "{" not in peer_text
    cifar_text = prose.render(templates["tokenizer_facts"], diagnosis.tokenizer_facts(cifar, _reference(ctx, 9)))
    assert "8 of 256 codes used" in cifar_text and "{" not in cifar_text and "n/a" not in cifar_text
    cifar_text = " ".join(cifar_text.split())
    assert "whose embeddings need 9 of 32 dimensions" in cifar_text and "at most 50 % of that (4.5)" in cifar_text


def _reference(ctx, components: int) -> Runs:
    from vqlib.experiments import RunResult

    (case,) = diagnosis.reference_cases(ctx)
    history = pd.DataFrame([{"step": case.spec.train.steps, "embedding_components_99": components,
                             "embedding_effective_rank": 3.5, "recon_mse": 0.01}])
    return Runs([case], [RunResult(case.spec, history, {}, "synthetic", wall_time=1.0)])


def test_the_fallback_rule_is_said_to_be_the_encoders_narrowness_when_the_reference_is_as_narrow(cifar, ctx):
    narrow = diagnosis.tokenizer_facts(cifar, _reference(ctx, 4))  # at most a quarter of d = 32 as well
    wide = diagnosis.tokenizer_facts(cifar, _reference(ctx, 20))
    assert narrow.reference.components == 4 and narrow.reference.limit == 2.0 and wide.reference.rank == 3.5
    if narrow.fallback.startswith("would call neither"):
        assert "narrowness" not in narrow.fallback
    else:
        assert narrow.fallback.endswith("the narrowness is the encoder's, not quantization's")
        assert "narrowness" not in wide.fallback


def test_templates_render_when_every_tokenizer_collapsed(ctx):
    # the smoke scale's tiny runs: every tokenizer collapsed, the same numbers for all
    peer = _diagnoses(diagnosis.peer_cases(ctx), [_report(3, seed=s) for s in range(3)])
    cifar = _diagnoses(diagnosis.tokenizer_cases(ctx), [_report(3, 256, 32, seed=s) for s in range(3)])
    templates = dict(_templates())
    assert "tokens collapse" in prose.render(templates["peer_facts"], diagnosis.peer_facts(peer, ctx))
    text = prose.render(templates["tokenizer_facts"], diagnosis.tokenizer_facts(cifar))
    assert "3 of its 256 codes in use" in text


def test_a_report_page_draws_an_arm_in_its_colour_and_any_other_tokenizer_in_the_neutral_one(peer, cifar, ctx,
                                                                                              monkeypatch):
    """The CIFAR-10 baseline's page was drawn in blue, the deferred arm's colour in every other figure: a page of a
    registry arm takes the arm's colour; vector-quantize-pytorch's runs, no arm of the registry, stay neutral; and
    nothing else on a page (Lorenz curve, dead codes, thresholds) can take the tokenizer's colour."""
    from matplotlib.colors import to_rgb

    from vqlib.diagnose.plot import NEUTRAL
    from vqlib.plotting import diagnosis as plots
    from vqlib.plotting import plt

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, name, *args, **kwargs: figures.append(fig) or name)
    monkeypatch.setattr(diagnosis.Diagnosed, "provenance", "test data; seed 0")  # names the data, reads none
    pages = [(cifar.one(arm=BASELINE), BASELINE.color), (cifar.one(arm=DEFERRED), DEFERRED.color),
             (peer.one(run="random"), NEUTRAL), (peer.one(run="deferred"), NEUTRAL)]
    assert [plots.color_of(d) for d, _ in pages] == [BASELINE.color, DEFERRED.color, None, None]
    for diagnosed, color in pages:
        plots.report_page(diagnosed, ctx)
        usage, pca, spectra, shrinkage, lorenz = figures[-1].axes
        accent = to_rgb(color)
        assert to_rgb(usage.collections[0].get_facecolor()[0][:3]) == accent
        (used,) = [c for c in pca.collections if c.get_label() == "used codes"]
        assert to_rgb(used.get_facecolor()[0][:3]) == accent
        (codes,) = [line for line in spectra.lines if line.get_label().startswith("codes")]
        assert to_rgb(codes.get_color()) == accent
        assert {to_rgb(bar.get_facecolor()[:3]) for bar in shrinkage.patches} == {accent}
        others = [to_rgb(line.get_color()) for line in lorenz.lines + shrinkage.lines]
        others += [to_rgb(c.get_edgecolor()[0][:3]) for c in pca.collections if c.get_label() == "dead codes"]
        assert others and accent not in others
        plt.close(figures[-1])
