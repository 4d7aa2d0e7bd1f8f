"""Notebook 03's study (vqlib.studies.fixes): the arms as Arm objects, the results table and its CSV, the claims,
and the facts its computed prose states - on synthetic runs whose numbers are known."""

import ast
import math
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from vqlib.experiments import RunResult
from vqlib.studies import ARMS, Arm, Runs, context, fixes
from vqlib.studies.prose import render

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "03_fixes.py"

#: utilization per arm id on (mixture, CIFAR-10), shaped like the default scale's results
UTILIZATION = {
    "early_kmeans": (0.18, 0.40), "early_normal": (0.004, 0.004), "early_normal_ema": (0.12, 0.02),
    "early_matched_normal": (0.15, 0.30),
    "deferred_05": (0.25, 0.97), "deferred_10": (0.58, 0.93), "deferred_25": (1.0, 0.95), "deferred": (1.0, 0.97),
    "deferred_50": (1.0, 0.99), "deferred_normal_init": (0.19, 0.04), "deferred_matched_normal": (0.9, 0.8),
    "deferred_sample_init": (0.99, 0.94),
    "deferred_dead_code": (1.0, 1.0), "early_no_ema": (0.20, 0.35), "early_dead_code": (1.0, 1.0),
    "early_cosine": (0.24, 0.28), "early_lowdim": (0.18, 0.51), "vqtorch": (0.997, 1.0)}


def _result(case, metrics: dict) -> RunResult:
    history = pd.DataFrame([{"step": 0, **{k: v * 0.5 for k, v in metrics.items()}},
                            {"step": case.spec.train.steps, **metrics}])
    return RunResult(case.spec, history, {}, "synthetic", wall_time=1.0 + case.spec.seed)


def _metrics(dataset: str, arm_id: str, seed: int, utilization: dict) -> dict:
    column = fixes.DATASETS.index(dataset)
    use = utilization[arm_id][column]
    jitter = 1 + 0.002 * seed  # seeds differ a little, well inside the claims' 5 % band
    perplexity = {"deferred_dead_code": (242.0, 226.0)}.get(arm_id, (220 * use, 214 * use))[column]
    return {"utilization": use if use == 1.0 else use * jitter, "perplexity": perplexity * jitter,
            "dead_codes": 256 * (1 - use), "code_cosine_distance": 0.5, "code_euclidean_distance": 3.0 * jitter,
            "shrinkage_euclidean": (0.2 if use < 0.5 else 1.0) * jitter,
            "embedding_effective_rank": 10.0 + seed, "recon_mse": (0.07 if use < 0.5 else 0.0026) * jitter,
            "coverage": min(1.0, 2 * use) if dataset == fixes.MIXTURE else math.nan}


def _runs(ctx, utilization=UTILIZATION) -> Runs:
    cases = fixes.arm_cases(ctx)
    return Runs(cases, [_result(c, _metrics(c.labels["dataset"], c.labels["arm"], c.spec.seed, utilization))
                        for c in cases])


def _capacity(ctx, rank_at_low: float = 3.6) -> Runs:
    cases = fixes.capacity_cases(ctx)
    results = []
    for case in cases:
        values = fixes.CAPACITY[case.labels["dataset"]][1]
        level = sorted(values).index(case.labels["value"])  # 0: the smallest capacity
        deferred = case.labels["arm"] == fixes.DEFERRED.id
        rank = rank_at_low if level == 0 else 12.0 + level
        mse = {0: 0.019, 1: 0.003, 2: 0.003}[level] if deferred else {0: 0.13, 1: 0.07, 2: 0.056}[level]
        coverage = (0.995 if level != 1 else 1.0) if deferred else (0.60, 0.71, 0.74)[level]
        results.append(_result(case, {"embedding_effective_rank": rank + 0.01 * case.spec.seed,
                                      "coverage": coverage, "utilization": 0.64 if deferred and level == 0 else 0.9,
                                      "recon_mse": mse}))
    return Runs(cases, results)


@pytest.fixture(scope="module")
def ctx():
    return context("default")  # 5 seeds (3 for CIFAR-10's other arms): listing specs loads no data


@pytest.fixture(scope="module")
def runs(ctx):
    return _runs(ctx)


@pytest.fixture(scope="module")
def capacity(ctx):
    return _capacity(ctx)


# ---- arms ---------------------------------------------------------------------------------------------------

def test_the_arms_are_arm_objects_and_timing_derives_its_percentages_from_them():
    assert all(isinstance(a, Arm) for a in fixes.FIX_ARMS + fixes.MAIN_ARMS + fixes.TIMING)
    assert [a.id for a in fixes.FIX_ARMS] == list(UTILIZATION)
    assert [a.id for a in fixes.MAIN_ARMS] == ["early_kmeans", "early_normal", "deferred"]
    # notebook 04 reads T_c % by arm id; the values are the arms' own, as the table has always shown them
    assert fixes.TIMING_ARMS == {"early_kmeans": 0, "deferred_05": 5, "deferred_10": 10, "deferred_25": 25,
                                 "deferred": 33, "deferred_50": 50}
    assert all(fixes.TIMING_ARMS[a.id] == ARMS[a.id].t_c_percent for a in fixes.TIMING)


def test_run_spec_takes_an_arm_or_its_id(ctx):
    assert fixes.run_spec(fixes.CIFAR10, fixes.DEFERRED_10, 1, ctx) == fixes.run_spec(fixes.CIFAR10, "deferred_10", 1,
                                                                                       ctx)
    assert fixes.seeds(fixes.CIFAR10, ctx, fixes.PEER) == fixes.seeds(fixes.CIFAR10, ctx, "vqtorch") == [0, 1, 2]
    assert fixes.seeds(fixes.CIFAR10, ctx, fixes.DEFERRED) == list(range(5))
    with pytest.raises(ValueError, match="unknown arm"):
        fixes.run_spec(fixes.MIXTURE, "deferred_33", 0, ctx)


def test_arm_cases_label_the_timing_arms_with_their_t_c(ctx):
    labels = {c.labels["arm"]: c.labels["T_c %"] for c in fixes.arm_cases(ctx)}
    assert {k: v for k, v in labels.items() if not math.isnan(v)} == fixes.TIMING_ARMS
    assert math.isnan(labels["deferred_normal_init"])  # a third of the budget too, but not a timing arm


# ---- tables -------------------------------------------------------------------------------------------------

def test_results_csv_holds_the_means_without_wall_times(runs, ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIB_FIGURES", str(tmp_path))
    path = fixes.write_results(runs, ctx)
    assert path == tmp_path / "03_results.csv"
    lines = path.read_text().splitlines()
    committed = (ROOT / "figures" / "03_results.csv").read_text().splitlines()
    assert lines[0] == committed[0]  # the columns of the committed table, in order; no wall time
    assert "wall time" not in lines[0] and len(lines) == 1 + 2 * len(fixes.FIX_ARMS)
    # the baseline on the mixture: 5 seeds, utilization 0.18 x mean jitter 1.004, perplexity 39.6 x 1.004
    assert lines[1].startswith("mixture,early k-means (baseline),5,0.18072,39.7584,")
    assert lines[1 + len(fixes.FIX_ARMS) + 1] .startswith("CIFAR-10,early normal,3,")
    table = fixes.summary_table(runs, decimals=3)
    assert table["wall time (s)"].iloc[0] == 3.0 and table["seeds"].tolist()[:2] == [5, 5]


def test_headline_and_capacity_tables(runs, capacity):
    headline = fixes.headline_table(runs, decimals=4)
    mixture = headline[headline.dataset == fixes.MIXTURE]["arm"].tolist()
    # the early remedy with the highest utilization is dead-code re-initialization (100 %)
    assert mixture == ["early k-means (baseline)", "early + dead-code re-init",
                       "vector-quantize-pytorch (rotation trick, k-means, expiry)", "deferred T_c=10%", "deferred",
                       "deferred, normal init at switch"]
    assert headline.loc[0, "utilization"] == pytest.approx(0.1807, abs=1e-4)
    table = fixes.capacity_table(capacity)
    assert list(table.columns) == ["embedding_effective_rank", "coverage", "utilization", "recon_mse"]
    assert table.loc[(fixes.MIXTURE, "width 4", "deferred"), "recon_mse"] == 0.019
    assert len(table) == 2 * (3 + 2)


def test_arm_stats_follow_fix_arms(runs):
    stats = fixes.arm_stats(runs, fixes.CIFAR10, "utilization")
    assert list(stats.index) == [a.id for a in fixes.FIX_ARMS]
    assert stats.loc["early_kmeans", "min"] == pytest.approx(0.40)
    assert stats.loc["early_kmeans", "max"] == pytest.approx(0.40 * 1.008)


# ---- claims -------------------------------------------------------------------------------------------------

def test_the_claims_keep_their_rows_and_order_and_carry_keys(runs, capacity):
    claims = fixes.claims(runs, capacity)
    assert [c.text for c in claims] == [
        f"{d}: {t}" for d in fixes.DATASETS for t in (
            "utilization, deferred vs baseline", "perplexity, deferred vs baseline",
            "codebook/embedding spread, deferred vs baseline",
            "utilization, deferred (k-means at switch) vs deferred (normal codebook at switch)",
            "utilization, deferred (k-means at switch) vs deferred (matched-scale normal at switch)",
            "utilization, deferred vs early matched-scale normal + EMA")] + [
        f"{d}: {t}" for d in fixes.DATASETS for t in (
            *(f"{m}, deferred vs early + dead-code re-init (timing or re-init?)" for m in (
                "utilization", "perplexity", "codebook/embedding spread", "reconstruction MSE")),
            "utilization, deferred vs vector-quantize-pytorch (rotation trick, k-means, expiry)",
            "utilization, deferred vs early k-means, no EMA (codebook loss)")] + [
        "mixture: embedding eff. rank, width 256 vs 4 (baseline)",
        "CIFAR-10: embedding eff. rank, channels 64 vs 16 (baseline)"]
    assert [c.key for c in claims] == [f"{d}_{k}" for d in ("mixture", "cifar")
                                       for k in ("utilization", "perplexity", "spread", "init", "matched_init",
                                                 "matched_early")] + [
        f"{d}_{k}" for d in ("mixture", "cifar") for k in (
            "reinit_utilization", "reinit_perplexity", "reinit_spread", "reinit_mse", "peer", "no_ema")] + [
        "mixture_capacity", "cifar_capacity"]
    reinit = [c for c in claims if "_reinit_" in c.key]
    assert all(not c.stated for c in reinit)  # the paper never tries re-initialization: implied, not reported
    assert [c.paper for c in reinit[:4]] == ["higher", "higher", "higher", "lower"]  # deferral ahead on each
    cifar_init = claims[9]
    assert cifar_init.key == "cifar_init" and (len(cifar_init.first), len(cifar_init.second)) == (5, 3)
    matched = [c for c in claims if "matched" in c.key]
    assert len(matched) == 4 and all(not c.stated for c in matched)  # the paper never matches the scale


# ---- the facts of the prose -----------------------------------------------------------------------------------

def test_timing_facts(runs, ctx):
    facts = fixes.timing_facts(runs, ctx)
    assert facts.mixture.needed == "25 % of the budget" and facts.cifar.needed == "5 % of the budget"
    assert facts.mixture.full_use == "from 25 % on every code is used"
    assert facts.cifar.full_use == "from 5 % on at least 93 % of the codes are used"
    assert facts.short_steps == 30 and facts.main_tc == [0, 33] and facts.tc.deferred_10 == 10
    assert facts.verdict == "Agrees"
    assert (facts.mixture_seeds, facts.cifar_main_seeds, facts.cifar_other_seeds) == (5, 5, 3)
    # a dip at T_c = 25 % moves the point from which every longer phase uses nearly every code
    dipped = dict(UTILIZATION, deferred_25=(0.5, 0.95))
    assert fixes.timing_facts(_runs(ctx, dipped), ctx).mixture.needed == "33 % of the budget"
    never = dict(UTILIZATION, deferred_50=(0.5, 0.5))
    facts = fixes.timing_facts(_runs(ctx, never), ctx)
    assert facts.mixture.needed == "longer than any length tested" and facts.mixture.full_spread == []


def test_arms_facts_say_whether_dead_code_reinit_matches_deferral(runs, ctx):
    facts = fixes.arms_facts(runs, ctx)
    assert facts.dead_code_matches == "matches" and facts.verdict == "Partly agrees"
    assert facts.dead_code_use == "100 % utilization on both datasets"
    assert facts.combined_use == "every code on both datasets"
    assert facts.combined_best == "the highest perplexity of all arms" and facts.combined_mse == "the same"
    assert (facts.ema_vs_loss, facts.normal_vs_kmeans) == ("more", "fewer")
    assert facts.non_fixes == pytest.approx([20.08, 35.07, 24.096, 28.056, 18.072, 51.102], rel=1e-6)
    assert facts.claims.cifar_init.verdict == "agrees"
    weaker = dict(UTILIZATION, early_dead_code=(0.6, 1.0), deferred_dead_code=(1.0, 0.9))
    facts = fixes.arms_facts(_runs(ctx, weaker), ctx)
    assert facts.dead_code_matches == "does not match" and facts.verdict == "Agrees"
    assert facts.dead_code_use == "60 % and 100 % utilization (mixture, CIFAR-10)"
    assert facts.combined_use == "100 % and 90 % of the codes (mixture, CIFAR-10)"
    assert "does not reach" in facts.but


def test_capacity_facts(capacity, ctx):
    facts = fixes.capacity_facts(capacity, ctx)
    assert facts.seeds == 3 and facts.verdict == "Agrees"
    mixture = facts.mixture
    assert (mixture.low.value, mixture.mid.value, mixture.high.value) == (4, 64, 256)
    assert mixture.low.baseline.embedding_effective_rank == pytest.approx(3.61)
    assert mixture.mse_ratio == pytest.approx(0.019 / 0.003)
    assert mixture.deferral_vs_width == "more"  # 1.0 - 0.71 against 0.74 - 0.60
    assert facts.cifar.lower_mse == "a lower" and "mid" not in facts.cifar
    assert facts.cifar.high.rank == pytest.approx([13.01, 13.01])
    facts = fixes.capacity_facts(_capacity(ctx, rank_at_low=14.0), ctx)
    assert facts.verdict == "Disagrees"


def test_evaluation_facts_count_the_rows_that_agree(runs, capacity, ctx):
    facts = fixes.evaluation_facts(runs, capacity, ctx)
    # here re-initialization and the peer reach deferral on every measure: those 10 rows disagree with the paper
    assert facts.every_row == "16 of 26 rows agree; 10 disagree."
    assert facts.main_seeds == [5] and facts.cifar_other_seeds == 3 and facts.capacity_seeds == 3
    assert facts.claims.cifar_init.interval == "min-max of 15 comparisons" and facts.main_interval == "paired bootstrap"
    facts = fixes.evaluation_facts(runs, _capacity(ctx, rank_at_low=14.0), ctx)
    assert facts.every_row == "14 of 26 rows agree; 12 disagree."


def _templates() -> list[tuple[str, str]]:
    out = []
    for cell in jupytext.read(NOTEBOOK).cells:
        if cell.cell_type == "code" and cell.source.startswith("say("):
            call = ast.parse(cell.source).body[0].value
            out.append((ast.unparse(call.args[0]), call.args[1].value))
    return out


def test_every_template_of_notebook_03_renders_from_its_facts(runs, capacity, ctx):
    templates = _templates()
    assert len(templates) == 5
    env = {"fixes": fixes, "runs": runs, "capacity": capacity, "ctx": ctx}
    text = "\n".join(render(template, eval(call, env)) for call, template in templates)  # noqa: S307
    assert "{" not in text and "n/a" not in text
    for phrase in ("from 25 % on every code is used", "On CIFAR-10 even 5 % (30 steps) gives 97 % utilization",
                   "**Agrees**; the continuous phase needed is 5 % of the budget on CIFAR-10 and 25 % of the budget",
                   "**Partly agrees**: deferral fixes tokens collapse", "perplexity 221 vs 221 (mixture)",
                   "do not fix the collapse (18–51 % of the codes used)", "at the same reconstruction error",
                   "width 4 cuts the embeddings' effective rank to 3.6", "**Agrees** that capacity counters",
                   "All of this is at CPU scale (1,500 mixture steps, 600 CIFAR-10 steps on 20,000 images)",
                   "have 5 seeds per side (paired bootstrap)", "(5 vs 3: the min-max of 15 comparisons)",
                   "16 of 26 rows agree; 10 disagree.", "deferred against early + re-init: on the mixture"):
        assert phrase in " ".join(text.split()), phrase


def test_one_verdict_for_several_claims():
    assert fixes._overall(["agrees", "agrees"]) == "agrees"
    assert fixes._overall(["agrees", "disagrees"]) == "partly agrees"
    assert fixes._overall(["inconclusive", "disagrees"]) == "inconclusive"
    assert fixes._overall(["disagrees"]) == "disagrees"


# ---- figures ----------------------------------------------------------------------------------------------------

def _drawn(monkeypatch, draw):
    """The figure that ``draw`` saves, kept instead of written (its data sources named, not read)."""
    from types import SimpleNamespace

    from vqlib.plotting import fixes as plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, name, *args, **kwargs: figures.append(fig) or name)
    monkeypatch.setattr(fixes, "sources", lambda ctx: SimpleNamespace(mixture="mixture", dim=32, cifar="CIFAR-10",
                                                                      mixture_seeds="seeds", cifar_seeds="seeds"))
    draw(plots)
    return figures[-1]


def _labels_in_view(ax) -> list[str]:
    ax.figure.canvas.draw()
    low, high = sorted(ax.xaxis.get_view_interval())
    return [t.get_text() for t in ax.xaxis.get_majorticklabels()
            if t.get_text() and low * (1 - 1e-9) <= t.get_position()[0] <= high * (1 + 1e-9)]


def test_the_arms_figure_draws_points_with_ranges_in_each_arms_colour_never_bars_on_log_axes(runs, ctx, monkeypatch):
    """03_arms drew bars on log axes (a bar's length means nothing there; the CIFAR-10 MSE panel had one tick)."""
    from matplotlib.colors import to_rgba
    from matplotlib.container import BarContainer
    from matplotlib.patches import Rectangle

    from vqlib.plotting import fixes as plots
    from vqlib.plotting import plt

    fig = _drawn(monkeypatch, lambda plots: plots.arms(runs, ctx))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 8
    log = [ax for ax in panels if ax.get_xscale() == "log"]
    assert len(log) == 6  # perplexity, spread ratio and reconstruction error, both datasets
    for ax in panels:
        assert not any(isinstance(c, BarContainer) for c in ax.containers), ax.get_title()
        assert not any(isinstance(p, Rectangle) for p in ax.patches), ax.get_title()
        # seaborn's pointplot: per arm, a marker line (its mean, at its row) and a range line from min to max
        points = [line for line in ax.lines if line.get_marker() not in ("None", "") and len(line.get_xdata())]
        assert [to_rgba(line.get_color()) for line in points] == [to_rgba(a.color) for a in fixes.FIX_ARMS]
        assert [line.get_marker() for line in points] == [plots.FAMILY_MARKERS[a.family] for a in fixes.FIX_ARMS]
        dataset, metric = ax.get_title().split(": ")[0], dict((lab, m) for m, lab in plots.PANELS)[
            ax.get_title().split(": ")[1]]
        stats = fixes.arm_stats(runs, dataset, metric)
        ranges = [line for line in ax.lines if line.get_marker() in ("None", "")
                  and np.isfinite(line.get_xdata()).any() and len(line.get_xdata()) == 8]
        for row, a in enumerate(fixes.FIX_ARMS):
            assert points[row].get_xdata()[row] == pytest.approx(stats.loc[a.id, "mean"])
            (whisker,) = [line for line in ranges if np.isfinite(line.get_xdata()).any()
                          and line.get_ydata()[4] == row and to_rgba(line.get_color()) == to_rgba(a.color)]
            x = np.asarray(whisker.get_xdata())
            assert (x[3], x[4]) == (pytest.approx(stats.loc[a.id, "min"]), pytest.approx(stats.loc[a.id, "max"]))
    for ax in log:
        labels = _labels_in_view(ax)
        assert len(labels) >= 3, (ax.get_title(), labels)
        assert not any("^" in t or "e" in t for t in labels), (ax.get_title(), labels)
    plt.close(fig)


def test_the_timing_or_reinit_figure_holds_the_four_arms_of_that_question(runs, ctx, monkeypatch):
    from matplotlib.colors import to_rgba

    from vqlib.plotting import plt

    fig = _drawn(monkeypatch, lambda plots: plots.timing_or_reinit(runs, ctx))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 8 and fig._suptitle.get_text() == "Is it the timing or the re-initialization?"
    assert [a.id for a in fixes.REINIT_ARMS] == ["early_kmeans", "early_dead_code", "deferred", "deferred_dead_code"]
    for ax in panels:
        points = [line for line in ax.lines if line.get_marker() not in ("None", "") and len(line.get_xdata())]
        assert [to_rgba(line.get_color()) for line in points] == [to_rgba(a.color) for a in fixes.REINIT_ARMS]
    assert [t.get_text() for t in panels[0].get_yticklabels()][1] == "early + dead-code re-init"
    plt.close(fig)


def test_the_timing_figure_draws_each_point_in_its_arms_colour(runs, ctx, monkeypatch):
    from matplotlib.colors import to_rgba

    from vqlib.plotting import plt

    fig = _drawn(monkeypatch, lambda plots: plots.defer_fraction(runs, ctx))
    by_tc = sorted(fixes.TIMING, key=lambda a: a.t_c_percent)
    for ax in fig.axes:
        (points,) = ax.collections[-1:]
        assert [tuple(c) for c in points.get_facecolors()] == [to_rgba(a.color) for a in by_tc]
    plt.close(fig)
