"""Notebook 06's study (vqlib.studies.remedies): its arms and run list, the table, the claims and the facts its
prose states, on synthetic runs whose numbers are known; its figures (vqlib.plotting.remedies)."""

import ast
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from vqlib.experiments import RunResult
from vqlib.studies import Runs, context, fixes, registry, remedies
from vqlib.studies.arms import ARMS, BASELINE, DEFERRED
from vqlib.studies.claims import claims_table
from vqlib.studies.prose import render

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "06_modern_remedies.py"

#: final utilization by arm (the same on both datasets); every measure is derived from it
USE = {"early_kmeans": 0.2, "deferred": 0.97, "early_rotation": 0.3, "deferred_rotation": 0.97, "early_cvq": 0.99,
       "deferred_cvq": 0.99, "early_simvq": 0.9, "deferred_simvq": 0.5, "early_fsq": 0.6, "deferred_fsq": 0.8,
       "vqtorch": 1.0, "vqtorch_ste": 0.98}


def _history(arm_id: str, seed: int) -> pd.DataFrame:
    use = USE[arm_id] + 0.001 * seed
    steps = [0, 100, 200, 300, 400, 500, 600]
    return pd.DataFrame({"step": steps, "utilization": [use] * 7, "perplexity": [200 * use] * 7,
                         "shrinkage_euclidean": [use] * 7, "code_components_99": [10 * use] * 7,
                         "embedding_components_99": [12.0] * 7, "recon_mse": [0.05 - 0.02 * use] * 7,
                         # the deferred rotation trick's embeddings contract after the switch (step 200 on CIFAR-10)
                         "embedding_euclidean_distance": [0.1, 3.0, 3.0, 2.0, 1.5, 1.2, 1.0] if arm_id ==
                         "deferred_rotation" else [0.1, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]})


@pytest.fixture(scope="module")
def ctx():
    return context("default", cifar_root="/nowhere")


@pytest.fixture(scope="module")
def runs(ctx):
    cases = remedies.cases(ctx)
    return Runs(cases, [RunResult(c.spec, _history(c.labels["arm"], c.spec.seed), {}, "synthetic", wall_time=1.0)
                        for c in cases])


def test_every_remedy_runs_early_and_deferred_beside_notebook_03s_arms(ctx):
    cases = remedies.cases(ctx)
    arms_seen = {c.labels["arm"] for c in cases}
    assert arms_seen == {a.id for a in remedies.ARMS_SHOWN}
    assert set(remedies.PAIRS) == {"rotation trick", "online clustering", "SimVQ", "FSQ"}
    for early, deferred in remedies.PAIRS.values():
        e = next(c.spec for c in cases if c.labels["arm"] == early.id)
        d = next(c.spec for c in cases if c.labels["arm"] == deferred.id)
        assert e.train.quantize_from == 0 and d.train.quantize_from == DEFERRED.t_c(d.train.steps) > 0
        assert e.model == d.model and e.train.codebook_init == d.train.codebook_init  # only the timing differs
    # notebook 03's arms are its very runs (cached), the remedies keep curves over training
    for a in (BASELINE, DEFERRED, ARMS["vqtorch"]):
        case = next(c for c in cases if c.labels["arm"] == a.id and c.labels["dataset"] == fixes.CIFAR10)
        assert case.spec == fixes.run_spec(fixes.CIFAR10, a, case.spec.seed, ctx)
    remedy = next(c.spec for c in cases if c.labels["arm"] == "early_simvq")
    assert remedy.train.eval_every < remedy.train.steps


def test_every_remedy_gets_the_headline_seeds(ctx):
    s = ctx.scale
    for early, deferred in remedies.PAIRS.values():
        for a in (early, deferred):
            assert remedies.seeds(fixes.CIFAR10, a, ctx) == list(range(s.image_seeds))
            assert remedies.seeds(fixes.MIXTURE, a, ctx) == list(range(s.seeds))
    peer = remedies.PEERS[0]  # notebook 03's arm keeps notebook 03's runs
    assert remedies.seeds(fixes.CIFAR10, peer, ctx) == fixes.seeds(fixes.CIFAR10, ctx, peer)


def test_the_remedy_arms_build_their_quantizers():
    spec = fixes.base(fixes.MIXTURE, context("smoke"))
    assert ARMS["early_rotation"](spec).model.quantizer_config().rotation_trick
    cvq = ARMS["deferred_cvq"](spec)
    assert cvq.model.quantizer_config().online_clustering and not cvq.model.ema
    assert cvq.train.codebook_init == "uniform"
    assert ARMS["early_simvq"](spec).model.quantizer == "simvq"
    fsq = ARMS["early_fsq"](spec)
    assert fsq.model.quantizer == "fsq" and fsq.model.num_codes == 240 and fsq.train.codebook_init == "own"
    assert ARMS["vqtorch_ste"](spec).model.quantizer_config().rotation_trick is False
    assert "rotation trick" in ARMS["vqtorch"].description


def test_the_table_holds_every_arm_in_order_with_its_seeds(runs, ctx):
    t = remedies.table(runs)
    assert list(t.arm[t.dataset == fixes.MIXTURE]) == [a.id for a in remedies.ARMS_SHOWN]
    row = t[(t.dataset == fixes.CIFAR10) & (t.arm == "early_cvq")].iloc[0]
    assert row.seeds == ctx.scale.image_seeds and row.utilization == pytest.approx(0.99 + 0.001 * 2)
    peer = t[(t.dataset == fixes.CIFAR10) & (t.arm == "vqtorch")].iloc[0]
    assert peer.seeds == ctx.scale.image_sweep_seeds
    assert set(remedies.METRICS) <= set(t.columns)


def test_the_claims_ask_whether_deferral_adds_and_whether_the_remedy_fixes_the_spread(runs):
    found = {c.key: c for c in remedies.claims(runs)}
    assert len(found) == 2 * 4 * 5
    rows = claims_table(list(found.values()))
    by_key = dict(zip([c.key for c in found.values()], rows.to_dict("records")))
    assert by_key["cifar_simvq_adds_utilization"]["verdict"] == "disagrees"  # 0.5 vs 0.9: deferral costs SimVQ
    assert by_key["mixture_fsq_adds_utilization"]["verdict"] == "agrees"  # 0.8 vs 0.6
    assert by_key["mixture_cvq_adds_utilization"]["verdict"] == "disagrees"  # equal within the band, paper: higher
    assert by_key["cifar_cvq_spread"]["verdict"] == "agrees"  # early CVQ 0.99 vs the baseline's 0.2
    early = np.mean([0.3 + 0.001 * s for s in range(5)])
    assert by_key["cifar_rotation_usage"]["effect size"] == pytest.approx(early / np.mean([0.2 + 0.001 * s
                                                                                            for s in range(5)]))
    assert all(not c.stated for c in found.values())
    assert set(rows["finished"]) == {"yes"}  # flat curves over the last quarter


def test_the_facts_name_the_remedies_by_verdict_and_every_template_renders(runs, ctx):
    f = remedies.facts_of(runs)
    assert f.mixture.adds == "rotation trick and FSQ"
    assert f.cifar.fixes_spread == "rotation trick, online clustering, SimVQ and FSQ"
    assert f.mixture.recon_worse == "SimVQ"  # its deferred arm uses fewer codes; online clustering: equal, not worse
    assert f.mixture.early_cvq.utilization == pytest.approx(0.992)
    assert (f.cifar.deferred_rotation.spread_at_switch, f.cifar.deferred_rotation.spread_end) == (3.0, 1.0)
    assert (f.cifar.deferred.spread_at_switch, f.cifar.deferred.spread_end) == (3.0, 3.0)
    long = remedies.long_facts(_long_runs(ctx))
    facts_by_call = {"remedies.facts_of(runs)": f, "remedies.long_facts(long_runs)": long}
    text = " ".join(" ".join(render(template, facts_by_call[call]).split()) for call, template in _templates())
    assert "{" not in text and "n/a" not in text
    assert "rotation trick 30 % vs 97 % (finished: no and yes)" in text
    assert "To utilization it adds for rotation trick and FSQ on the mixture" in text


def _templates() -> list[tuple[str, str]]:
    """(the facts call, the template) of every say() in the notebook."""
    out = []
    for cell in jupytext.read(NOTEBOOK).cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "say":
                    out.append((ast.unparse(node.args[0]), node.args[1].value))
    return out


def test_citations_are_marked_as_not_measured_here():
    t = remedies.citations()
    assert set(t["kind"]) == {"citation, not our measurement"} and "SimVQ" in set(t["remedy"])


def test_notebook_06_is_registered_with_its_claims(ctx):
    entry = registry.notebook("06_modern_remedies")
    assert entry.short == "06 remedies" and entry.has_claims
    assert [c.spec for c in entry.case_lists(ctx)["remedies"]] == [c.spec for c in remedies.cases(ctx)]


def test_the_figures_are_drawn_and_saved(runs, ctx, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from vqlib.plotting import plt
    from vqlib.plotting import remedies as plots

    monkeypatch.setenv("VQLIB_FIGURES", str(tmp_path))
    monkeypatch.setattr(fixes, "sources", lambda c: SimpleNamespace(mixture="mixture", dim=32, cifar="CIFAR-10",
                                                                    mixture_seeds="seeds", cifar_seeds="seeds"))
    paths = [plots.arms(runs, ctx), plots.claims(remedies.claims_frame(runs), ctx)]
    assert [p.name for p in paths] == ["06_remedies.png", "06_claims.png"]
    assert all(p.is_file() and p.with_suffix(".pdf").is_file() for p in paths)
    plt.close("all")


def _long_runs(ctx) -> Runs:
    """The long runs with known curves: every arm flat over the last quarter except the early rotation trick's
    utilization, still rising."""
    cases = remedies.long_cases(ctx)
    steps = cases[0].spec.train.steps
    t = np.linspace(0, steps, 9)
    results = []
    for c in cases:
        use = USE[c.labels["arm"]]
        curve = use * (0.5 + 0.5 * t / steps) if c.labels["arm"] == "early_rotation" else np.full(9, use)
        history = pd.DataFrame({"step": t.astype(int), "utilization": curve, "perplexity": 200 * curve,
                                "shrinkage_euclidean": curve, "recon_mse": 0.05 - 0.02 * curve})
        results.append(RunResult(c.spec, history, {}, "synthetic", wall_time=1.0))
    return Runs(cases, results)


def test_the_long_runs_are_notebook_02s_references_and_the_chosen_remedies(ctx):
    from vqlib.studies import converged

    cases = remedies.long_cases(ctx)
    assert [c.labels["arm"] for c in cases] == ["early_kmeans", "deferred", "early_rotation", "deferred_rotation",
                                               "early_cvq", "deferred_cvq"]
    references = {c.spec for c in converged.cases(ctx) if c.spec.seed == 0 and c.labels["size"] == "small"}
    assert {c.spec for c in cases[:2]} == references  # notebook 02's long runs, from the cache
    assert all(c.spec.seed == 0 and c.spec.train.steps == ctx.scale.converged_steps for c in cases)
    assert cases[3].spec.train.quantize_from == DEFERRED.t_c(ctx.scale.converged_steps)
    assert registry.notebook("06 remedies").case_lists(ctx)["long runs"] == cases


def test_the_long_table_and_facts_give_end_points_and_whether_each_finished(ctx, tmp_path, monkeypatch):
    long = _long_runs(ctx)
    table = remedies.long_table(long)
    row = table[table.arm == "early + rotation trick"].iloc[0]
    assert row["utilization"] == pytest.approx(0.3) and row["utilization finished"] == "no"
    assert row["utilization last-quarter change"] > 0.05
    assert set(table[table.arm != "early + rotation trick"]["utilization finished"]) == {"yes"}
    f = remedies.long_facts(long)
    assert f.early_cvq.utilization == pytest.approx(0.99) and f.early_rotation.utilization_finished == "no"
    assert f.remedies == "rotation trick and online clustering"
    assert f.rotation.utilization == "higher" and f.cvq.utilization == "the same"  # 0.97 vs 0.30; 0.99 vs 0.99
    assert remedies._compare(1.04, 1.0) == "the same" and remedies._compare(0.9, 1.0) == "lower"
    from vqlib.plotting import plt
    from vqlib.plotting import remedies as plots

    monkeypatch.setenv("VQLIB_FIGURES", str(tmp_path))
    monkeypatch.setattr(plots, "prepare", lambda spec: type("P", (), {"source": "CIFAR-10 copy, split train"})())
    assert plots.long_runs(long, ctx).name == "06_long_runs.png"
    plt.close("all")
