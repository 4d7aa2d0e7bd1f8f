"""Notebook 04's tables, facts and figures (vqlib.studies.generation, vqlib.plotting.generation) on a results
table made up here: no tokenizer, prior or classifier is trained."""

import ast
import math
import types
from pathlib import Path

import jupytext
import pandas as pd
import pytest
import torch

from vqlib.studies import context, generation, summary
from vqlib.studies.arms import ARMS
from vqlib.studies.claims import claims_table
from vqlib.studies.prose import render

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_generation_diversity.py"
ARM_IDS = [a.id for a in generation.TOKENIZER_ARMS]  # early_kmeans, deferred_10, deferred, deferred_50


def _table(seeds=(0, 1, 2), shuffle=False) -> pd.DataFrame:
    """One row per tokenizer and seed. Per arm (index i: 0 the baseline, 1-3 deferral) and seed (s) every value
    is a simple known function, so that the facts can be checked by hand."""
    rows = []
    for i, a in enumerate(generation.TOKENIZER_ARMS):
        for s in seeds:
            row = {"tokenizer": a.label, "arm": a.id, "T_c %": a.t_c_percent, "seed": s,
                   "tokenizer recon MSE": 0.035 if i == 0 else 0.025,
                   "tokenizer perplexity": 30.0 + 60 * i, "prior final loss (nats/token)": 2.8 if i == 0 else 4.1,
                   generation.PRIOR_NLL: 2.5 if i == 0 else 4.0,
                   generation.UNIGRAM_NLL: 3.5 if i == 0 else 5.0 + i / 10,
                   "token entropy": 3.5 + 2 * (i > 0), "real token entropy": 3.4 + 2 * (i > 0),
                   "distinct codes / sample": 24.0 + 20 * (i > 0), "real distinct codes / sample": 20.0 + 20 * (i > 0)}
            for image_set, scale in ((generation.SAMPLES, 1.0), (generation.RECONSTRUCTIONS, 1.5),
                                     (generation.UNIGRAM, 0.5)):
                row[generation.column(generation.PIXEL, image_set)] = scale * (1000 + 100 * i + 10 * s)
                row[generation.column(generation.VENDI, image_set)] = scale * (2.0 + 0.2 * i)
                row[generation.column(generation.RECALL, image_set)] = scale * (0.02 + 0.01 * i)
                row[generation.column(generation.FRECHET, image_set)] = scale * (30.0 - 2 * i)
                row[generation.column("precision", image_set)] = 0.9
            rows.append(row)
    table = pd.DataFrame(rows)
    return table.sample(frac=1.0, random_state=0) if shuffle else table


def _study(table, scale="default") -> generation.Study:
    features = types.SimpleNamespace(steps=400, accuracy=0.564, real=torch.zeros(500, 3, 32, 32), bandwidth=15.0)
    return generation.Study(table, {}, features, {generation.PIXEL: 4800.0, generation.VENDI: 7.3}, context(scale),
                            1.0, None, Path("/elsewhere/04_results.csv"))


def test_every_image_column_of_the_committed_results_is_named_by_column():
    committed = pd.read_csv(ROOT / "figures" / "04_results.csv", nrows=1).columns
    measures = (*generation.CONTROL_MEASURES, "precision")
    named = {generation.column(m, s) for m in measures for s in generation.IMAGE_SETS}
    assert {c for c in committed if "·" in c} == {c for c in named if "·" in c}
    assert set(named) <= set(committed)
    assert generation.column(generation.PIXEL, generation.UNIGRAM) == "pixel distance · unigram"
    with pytest.raises(ValueError, match="unknown image set"):
        generation.column(generation.PIXEL, "unigram")


def test_the_tokenizers_are_arms_and_the_deferred_ones_are_every_arm_but_the_baseline():
    assert generation.TOKENIZER_ARMS[0] is generation.BASELINE
    assert generation.DEFERRED_ARMS == ("deferred_10", "deferred", "deferred_50")
    assert all(a.family == "deferred" for a in generation.TOKENIZER_ARMS if a.id in generation.DEFERRED_ARMS)


def test_claims_keep_their_rows_and_select_by_arm_and_seed_not_by_position():
    table = _table()
    rows = generation.claims(table)
    assert [c.key for c in rows] == ["pixel", "token_entropy", "vendi", "recall", "frechet", "recon"]
    assert [c.text for c in rows] == [
        "pixel distance: deferred (mean over T_c) vs early", "token entropy: deferred (mean over T_c) vs early",
        "Vendi score (RBF): deferred (mean over T_c) vs early", "recall: deferred (mean over T_c) vs early",
        "Frechet distance (small CNN): deferred (mean over T_c) vs early",
        "tokenizer recon MSE: deferred (mean over T_c) vs early"]
    pixel = rows[0]
    assert pixel.second == (1000.0, 1010.0, 1020.0)  # the baseline, seed by seed
    assert pixel.first == (1200.0, 1210.0, 1220.0)  # deferral: per seed, the mean over its three T_c
    shuffled = generation.claims(_table(shuffle=True))
    assert claims_table(shuffled).equals(claims_table(rows))


def test_tables_are_per_tokenizer_in_arm_order_and_the_long_controls_hold_every_set():
    table = _table()
    means = generation.means_table(table)
    assert list(means.columns) == [a.label for a in generation.TOKENIZER_ARMS]
    assert "seed" not in means.index and means.loc["pixel distance", generation.BASELINE.label] == 1010.0
    controls = generation.controls_table(table)
    assert list(controls.index[:2]) == [generation.PRIOR_NLL, generation.UNIGRAM_NLL]
    assert len(controls) == 2 + len(generation.CONTROL_MEASURES) * len(generation.IMAGE_SETS)
    long = generation.controls_long(table)
    assert list(long["source"].unique()) == list(generation.IMAGE_SETS) and len(long) == 3 * len(table)
    unigram = long[long.source == generation.UNIGRAM]
    assert unigram[generation.PIXEL].tolist() == table[generation.column(generation.PIXEL, generation.UNIGRAM)].tolist()
    nll = generation.nll_by_tc(table)
    assert list(nll.index) == [0, 10, 33, 50] and nll.loc[0, generation.PRIOR_NLL] == 2.5


def test_controls_facts_compare_each_deferred_tokenizer_with_the_baseline():
    f = generation.controls_facts(_study(_table()))
    assert f.beat == "beat" and f.scale == "default"
    assert f.nll.baseline.gap == pytest.approx(1.0)
    assert f.nll.deferred.gap == pytest.approx([1.1, 1.2, 1.3])
    pixel = f.ceiling.pixel  # reconstructions: 1.5 x (1000 + 100 i + 10): baseline 1515, deferral 1665-1965
    assert pixel.baseline == pytest.approx(1515.0) and pixel.deferred == pytest.approx([1665.0, 1815.0, 1965.0])
    assert pixel.gain.low == pytest.approx(100 * (1665 / 1515 - 1)) and pixel.gain.high == pytest.approx(
        100 * (1965 / 1515 - 1))
    assert f.frechet_seeds == "on every seed"
    assert f.recall.samples == pytest.approx([2.0, 3.0, 4.0, 5.0])


def test_controls_facts_say_when_a_prior_does_not_beat_its_unigram_model_or_a_seed_is_not_closer():
    table = _table()
    worse = (table.arm == "deferred") & (table.seed == 1)
    table.loc[worse, generation.PRIOR_NLL] = 9.0
    table.loc[worse, generation.FRECHET] = 99.0
    f = generation.controls_facts(_study(table))
    assert f.beat == "do not all beat"
    assert f.frechet_seeds == "on 2 of 3 seeds"


def test_quality_facts_hold_the_widest_seed_spread_and_the_verdicts():
    table = _table()
    # deferred_50's seeds spread most: 1300 and 1430 (+10 %), the baseline's 1000-1020 (+2 %)
    table.loc[(table.arm == "deferred_50") & (table.seed == 2), generation.PIXEL] = 1430.0
    f = generation.quality_facts(_study(table))
    assert f.spread.tokenizer == "deferred T_c=50%"
    assert (f.spread.low, f.spread.high) == (1300.0, 1430.0) and f.spread.percent == pytest.approx(10.0)
    assert f.claims.pixel.verdict == "agrees" and f.pixel_clearly == "clearly"
    assert f.claims.pixel.band == "lies beyond"
    assert f.claims.pixel.gain == pytest.approx(100 * (f.claims.pixel.effect - 1))
    assert f.claims.token_entropy.verdict == "agrees" and f.claims.recon.verdict == "agrees"
    assert f.seeds == 3 and f.samples == 500 and f.prior_steps == 600 and f.accuracy == 0.564
    assert f.recall_runs == pytest.approx([2.0] * 3 + [3.0] * 3 + [4.0] * 3 + [5.0] * 3)


def test_quality_facts_word_an_inconclusive_pixel_claim():
    table = _table()
    # deferral +3 % on pixel distance, +1 % to +5 % by seed: the interval reaches the 5 % band's edge
    base = table.arm == generation.BASELINE.id
    for s, gain in ((0, 1.01), (1, 1.03), (2, 1.06)):
        table.loc[~base & (table.seed == s), generation.PIXEL] = 1000.0 * gain
        table.loc[base & (table.seed == s), generation.PIXEL] = 1000.0
    f = generation.quality_facts(_study(table))
    assert f.claims.pixel.verdict == "inconclusive"
    assert f.claims.pixel.band == "reaches the edge of" and f.pixel_clearly == "*not* clearly"
    assert f.claims.pixel.lowest == pytest.approx(1.0) and f.claims.pixel.highest == pytest.approx(6.0)


def test_intervals_facts_say_how_the_intervals_were_made():
    three = generation.intervals_facts(generation.claims(_table()))
    assert three.n == 3 and three.interval == "the min-max of 3 paired effects"
    one = generation.intervals_facts(generation.claims(_table(seeds=(0,))))
    assert one.n == 1 and one.interval == "a point (one value per side)"
    five = generation.intervals_facts(generation.claims(_table(seeds=range(5))))
    assert five.n == 5 and five.interval.startswith("a bootstrap")


def _templates():
    """The notebook's prose cells: (the facts expression, the template)."""
    out = []
    for cell in jupytext.read(NOTEBOOK).cells:
        if cell.cell_type == "code" and "say(" in cell.source:
            call = ast.parse(cell.source).body[0].value
            out.append((call.args[0], call.args[1].value))
    return out


@pytest.mark.parametrize("seeds", [(0, 1, 2), (0,)], ids=["three seeds", "one seed"])
def test_every_template_of_the_notebook_renders_from_its_facts(seeds):
    table = _table(seeds)
    table[generation.RECALL] = 0.0  # as at the smoke scale: no recall at all, effects undefined
    study = _study(table, "smoke" if len(seeds) == 1 else "default")
    names = {"generation": generation, "study": study, "features": study.features}
    templates = _templates()
    assert len(templates) == 5
    for expression, template in templates:
        values = eval(compile(ast.Expression(expression), "facts", "eval"), names)
        text = render(template, values)
        assert "{" not in text and "}" not in text
    controls = render(templates[2][1], eval(compile(ast.Expression(templates[2][0]), "f", "eval"), names))
    assert controls.startswith(f"**Here ({study.ctx.name} scale):** *the priors beat the unigram model*")


def test_the_feature_and_results_facts():
    study = _study(_table())
    assert generation.feature_facts(study.features) == {"steps": 400, "accuracy": 0.564, "images": 500}
    f = generation.results_facts(study)
    assert f.csv == Path("/elsewhere/04_results.csv") and f.pixel == 4800.0 and f.vendi == 7.3
    assert f.bandwidth == 15.0


def test_verdict_counts_per_notebook_in_table_order():
    table = pd.DataFrame({"notebook": ["04 generation", "01 mixture", "04 generation", "01 mixture"],
                          "verdict": ["agrees", "disagrees", "agrees", "agrees"]})
    counts = summary.verdict_counts(table)
    assert list(counts.index) == ["04 generation", "01 mixture"]
    assert counts.loc["04 generation", "agrees"] == 2 and counts.loc["04 generation", "disagrees"] == 0
    assert counts.loc["01 mixture"].tolist() == [1, 1]


def test_the_figures_are_drawn_from_the_study(monkeypatch, tmp_path):
    from vqlib.plotting import generation as plots

    monkeypatch.setattr(generation, "source", lambda ctx: "CIFAR-10 test copy")
    study = _study(_table())
    study.grids = {a.label: torch.zeros(generation.GRID_SAMPLES, 3, 8, 8) for a in generation.TOKENIZER_ARMS}
    study.features.real = torch.zeros(40, 3, 8, 8)
    drawn = [plots.samples(study), plots.diversity_vs_tc(study), plots.controls(study),
             plots.quality_vs_diversity(study)]
    assert [p.name for p in drawn] == ["04_samples.png", "04_diversity_vs_tc.png", "04_controls.png",
                                       "04_quality_vs_diversity.png"]
    assert all(p.is_file() and p.with_suffix(".pdf").is_file() for p in drawn)
    assert all(p.parent == tmp_path / "figures" for p in drawn)
    everything = claims_table(generation.claims(study.table)).assign(notebook="04 generation")
    assert plots.summary_effects(everything, study.ctx).name == "04_summary_effects.png"


def test_the_figures_draw_each_tokenizer_in_its_arms_colour(monkeypatch):
    """04_quality_vs_diversity drew deferral in blues of its own (not the arms' colours): every tokenizer in the
    colour its arm has in every figure, here and in the diversity panels (one point per T_c)."""
    from matplotlib.colors import to_rgba

    from vqlib.plotting import generation as plots
    from vqlib.plotting import plt

    monkeypatch.setattr(generation, "source", lambda ctx: "CIFAR-10 test copy")
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, name, *args, **kwargs: figures.append(fig) or name)
    study = _study(_table(shuffle=True))
    expected = [to_rgba(a.color) for a in sorted(generation.TOKENIZER_ARMS, key=lambda a: a.t_c_percent)]
    plots.quality_vs_diversity(study)
    for ax in figures[-1].axes:  # one point per tokenizer and seed, in the order of the table, each in its colour
        (points,) = ax.collections
        assert [to_rgba(c) for c in points.get_facecolors()] == [to_rgba(ARMS[a].color) for a in study.table["arm"]]
    handles, labels = figures[-1].axes[0].get_legend_handles_labels()
    assert {label: to_rgba(h.get_color() if hasattr(h, "get_color") else h.get_facecolor()[0])
            for h, label in zip(handles, labels)} == {a.label: to_rgba(a.color) for a in generation.TOKENIZER_ARMS}
    plots.diversity_vs_tc(study)
    for ax in figures[-1].axes:
        points = [c for c in ax.collections if len(c.get_facecolors()) == len(expected)]
        assert [[tuple(f) for f in p.get_facecolors()] for p in points] == [expected], ax.get_ylabel()
    plt.close("all")


def test_the_realized_share_runs_from_the_unigram_floor_to_the_reconstruction_ceiling():
    from vqlib.studies.generation import RECONSTRUCTIONS, SAMPLES, UNIGRAM, column, realized

    table = pd.DataFrame({column(generation.VENDI, SAMPLES): [3.0, 2.0, 5.0, 4.0],
                          column(generation.VENDI, UNIGRAM): [2.0, 2.0, 2.0, 4.0],
                          column(generation.VENDI, RECONSTRUCTIONS): [6.0, 6.0, 6.0, 4.0]})
    assert realized(table, generation.VENDI).tolist()[:3] == [0.25, 0.0, 0.75]
    assert math.isnan(realized(table, generation.VENDI).tolist()[3])  # floor = ceiling: no range to realize
    # a lower-is-better measure: the same formula, 0 at the floor and 1 at the ceiling
    frechet = pd.DataFrame({column(generation.FRECHET, SAMPLES): [70.0], column(generation.FRECHET, UNIGRAM): [90.0],
                            column(generation.FRECHET, RECONSTRUCTIONS): [10.0]})
    assert realized(frechet, generation.FRECHET).tolist() == [0.25]


def test_the_control_claims_compare_ceilings_and_realized_shares_per_seed():
    from vqlib.studies.generation import RECONSTRUCTIONS, SAMPLES, UNIGRAM, column

    rows = []
    for seed in range(3):
        for arm_id, ceiling, sample in (("early_kmeans", 4.0, 3.0), *((a, 8.0, 5.0) for a in generation.DEFERRED_ARMS)):
            row = {"arm": arm_id, "seed": seed}
            for measure in generation.CONTROL_MEASURES:
                row.update({column(measure, UNIGRAM): 2.0, column(measure, RECONSTRUCTIONS): ceiling,
                            column(measure, SAMPLES): sample})
            rows.append(row)
    claims = {c.key: c for c in generation.control_claims(pd.DataFrame(rows))}
    assert set(claims) == {f"{kind}_{k}" for kind in ("ceiling", "realized") for k, _, _ in generation.CONTROL_CLAIMS}
    assert claims["ceiling_vendi"].first == (8.0,) * 3 and claims["ceiling_vendi"].second == (4.0,) * 3
    # deferral: (5 - 2) / (8 - 2) = 0.5 of its range; early: (3 - 2) / (4 - 2) = 0.5 as well
    assert claims["realized_vendi"].first == (0.5,) * 3 and claims["realized_vendi"].second == (0.5,) * 3
    assert claims["ceiling_frechet"].paper == "lower" and all(not c.stated for c in claims.values())
    survives = generation._survives(list(claims.values()))
    assert survives["realized_agrees"] == "none" and "not from tokens that are easier to model" in survives["survives"]


def test_the_claims_say_whether_the_tokenizers_had_finished_learning(monkeypatch):
    from vqlib.experiments import RunResult
    from vqlib.studies import Runs, core

    ctx = context("smoke")
    cases = generation.tokenizer_cases(ctx)

    def fake_runs(climbing: bool):
        results = []
        for case in cases:
            # curves every 100 steps; the baseline still climbing over the last quarter, or flat
            end = 0.5 if climbing and case.labels["arm"] == "early_kmeans" else 0.3
            history = pd.DataFrame({"step": [0, 100, 200, 300, 400], "utilization": [1.0, 0.3, 0.3, 0.3, end],
                                    "recon_mse": [0.2, 0.04, 0.03, 0.03, 0.03]})
            results.append(RunResult(case.spec, history, {}, "synthetic", wall_time=1.0))
        return Runs(cases, results)

    monkeypatch.setattr(core, "run_cases", lambda c, **_: fake_runs(climbing=True))
    assert generation.tokenizers_finished(ctx) is False
    monkeypatch.setattr(core, "run_cases", lambda c, **_: fake_runs(climbing=False))
    assert generation.tokenizers_finished(ctx) is True
    table = claims_table(generation.claims(_table_for_claims(), finished=False))
    assert set(table["finished"]) == {"no"}


def _table_for_claims() -> pd.DataFrame:
    rows = []
    for seed in range(2):
        for arm_id in ("early_kmeans", *generation.DEFERRED_ARMS):
            rows.append({"arm": arm_id, "seed": seed, **{m: 1.0 + (arm_id != "early_kmeans") + 0.1 * seed
                                                         for _, m, _, _ in generation.CLAIMS}})
    return pd.DataFrame(rows)
