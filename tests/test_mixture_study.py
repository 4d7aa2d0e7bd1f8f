"""Notebook 01's study: the tables and the facts its prose states (vqlib.studies.mixture), on hand-made runs whose
every number is known, and on a few smoke-scale runs where a fact needs the trained models."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from vqlib.data import MixtureSpec
from vqlib.experiments import ModelSpec, RunSpec
from vqlib.studies import ARMS, BASELINE, DEFERRED, Case, Runs, claims_table, context, mixture, run_cases
from vqlib.studies.prose import render
from vqlib.train import TrainSpec

SPEC = RunSpec(MixtureSpec(num_components=10, points_per_component=10, dim=8), ModelSpec(num_codes=32, latent_dim=8),
               TrainSpec(steps=700, batch_size=32, eval_every=700))
B, D = BASELINE.id, DEFERRED.id


def fake_runs(rows, spec=SPEC, history=None) -> Runs:
    """Runs from (labels with a seed, final metrics) pairs: what the tables and facts read of a finished run."""
    cases, results = [], []
    for labels, final in rows:
        labels = dict(labels)
        seed = labels.pop("seed")
        cases.append(Case(dataclasses.replace(spec, seed=seed), labels))
        results.append(SimpleNamespace(spec=dataclasses.replace(spec, seed=seed), final=dict(final), wall_time=0.0,
                                       history=history(labels, seed) if history else None))
    return Runs(cases, results)


# ---- the perplexity gain, paired by seed -----------------------------------------------------------------
def test_perplexity_gain_pairs_seeds_whatever_the_row_order():
    rows = [({"arm": D, "K": 5, "seed": 1}, {"perplexity": 6.0}), ({"arm": B, "K": 5, "seed": 0}, {"perplexity": 2.0}),
            ({"arm": D, "K": 5, "seed": 0}, {"perplexity": 3.0}), ({"arm": B, "K": 5, "seed": 1}, {"perplexity": 4.0})]
    gain = mixture.perplexity_gain(fake_runs(rows).table, ["K"])
    assert gain[(5, 0)] == 1.5 and gain[(5, 1)] == 1.5  # 3/2 and 6/4, never 6/2 or 3/4


def sizes_runs(deferred_coverage=1.0) -> Runs:
    rows = []
    for k in mixture.CODEBOOK_SIZES:
        for seed in (0, 1, 2):
            base = {"utilization": min(1.0, 8 / k), "perplexity": min(k, 8.0) - 0.1 * seed, "coverage": 0.5,
                    "recon_mse": 0.08}
            deferred = {"utilization": 1.0, "perplexity": 0.95 * k + 0.1 * seed, "recon_mse": 0.09,
                        "coverage": deferred_coverage if k >= 40 else 0.9}
            rows += [({"arm": B, "K": k, "seed": seed}, base), ({"arm": D, "K": k, "seed": seed}, deferred)]
    return fake_runs(rows)


def test_codebook_size_claim_and_facts():
    sizes = sizes_runs()
    (claim,) = mixture.codebook_size_claims(sizes)
    assert claim.text == "perplexity gain of deferral (ratio) at K=160 vs K=5"
    assert claim.first == pytest.approx([(152 + 0.1 * s) / (8 - 0.1 * s) for s in (0, 1, 2)])
    assert claim.second == pytest.approx([(4.75 + 0.1 * s) / (5 - 0.1 * s) for s in (0, 1, 2)])
    f = mixture.codebook_size_facts(sizes)
    assert (f.small.K, f.mid.K, f.large.K, f.C, f.seeds) == (5, 10, 160, 10, 3)
    assert f.small.uses == "every code" and f.small.worse == "worse" and f.small.same == "the same"
    assert f.small.baseline_perplexity == pytest.approx(4.9) and f.small.deferred_perplexity == pytest.approx(4.85)
    assert f.large.baseline_utilization == pytest.approx(0.05) and f.full_from == 40
    assert f.baseline_perplexity == pytest.approx([7.9] * 5)
    assert f.claims.gain.verdict == "agrees"
    # a K whose deferred coverage is not complete pushes "covers every component from" past it
    assert math.isnan(mixture.codebook_size_facts(sizes_runs(deferred_coverage=0.95)).full_from)


# ---- capacity -----------------------------------------------------------------------------------------------
def capacity_runs(deep_rank: float) -> Runs:
    rank = {"linear": 15.0, "depth 1": 14.0, "depth 2": 12.0, "depth 3": 10.0, "depth 4": deep_rank, "width 4": 3.0,
            "width 16": 8.0, "width 256": 12.0}
    rows = []
    for label, depth, width in mixture.CAPACITIES:
        for seed in (0, 1, 2):
            for arm, coverage, utilization in ((B, 0.5 if width == 4 else 0.7, 0.2),
                                               (D, 1.0, 0.4 if label in ("linear", "width 4") else 1.0)):
                rows.append(({"arm": arm, "arm_label": ARMS[arm].label, "capacity": label, "depth": depth,
                              "width": width, "seed": seed},
                             {"embedding_effective_rank": rank[label] + 0.1 * seed, "embedding_euclidean_distance":
                              depth + 1.0, "coverage": coverage, "utilization": utilization, "recon_mse": 0.01}))
    return fake_runs(rows, spec=dataclasses.replace(SPEC, model=ModelSpec(num_codes=256, latent_dim=16)))


def test_capacity_facts_name_what_the_sweep_shows():
    f = mixture.capacity_facts(capacity_runs(deep_rank=9.0))
    assert (f.narrow.width, f.wide.width, f.latent_dim, f.steps, f.quantized) == (4, 256, 16, 700, 467)
    assert f.narrow.rank == pytest.approx(3.1) and f.wide.coverage == pytest.approx(0.7)
    assert (f.depth.direction, f.depth.deepest, f.depth.deep) == ("lower", 4, [3, 4])
    assert f.depth.baseline_spread == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert f.partial.capacities == ["linear", "width 4"] and f.partial.utilization == pytest.approx([0.4, 0.4])
    assert f.claims.width_rank.verdict == f.claims.width_coverage.verdict == "agrees"
    assert f.overall == "Partly agrees"  # width helps, depth does not
    assert mixture.capacity_facts(capacity_runs(deep_rank=16.0)).overall == "Agrees"  # both help
    table = mixture.capacity_table(capacity_runs(deep_rank=9.0))
    assert table.loc[("width 4", "early k-means (baseline)"), "seeds"] == 3
    assert table.loc[("depth 4", "deferred"), "embedding spread"] == 5.0


# ---- phase diagram ----------------------------------------------------------------------------------------
def test_phase_grids_and_facts_read_each_cell_by_what_it_is():
    rows = []
    for case in mixture.phase_cases(context("smoke")):  # the smoke scale: one seed; a second one is added here
        labels = case.labels
        separated = labels["ratio"] == max(mixture.PHASE_RATIOS)
        utilization = 0.2 if separated else 1.0 if labels["D"] == 32 else 0.5
        for seed in (0, 1):
            perplexity = (4.0 + seed if labels["arm"] == D else 1.0 + seed / 4) * (1 if separated else 0.5)
            rows.append(({**labels, "seed": seed},
                         {"utilization": utilization - 0.1 * seed * (labels["arm"] == B), "perplexity": perplexity,
                          "coverage": 0.7 if separated else 1.0}))
    phase = fake_runs(rows)
    grids = mixture.phase_grids(phase)
    assert set(grids) == {"D", "K_per_C", "gain"}
    util = grids["D"]["utilization"]
    assert list(util.index) == list(mixture.PHASE_RATIOS) and list(util.columns) == list(mixture.PHASE_DIMS)
    assert util.loc[6, 2] == pytest.approx(0.15)  # the mean of 0.2 and 0.1
    assert grids["D"]["gain"].loc[1, 32] == pytest.approx((4 / 1 + 5 / 1.25) / 2)  # per seed, then averaged
    assert list(grids["gain"]["coverage"].columns) == list(mixture.PHASE_GAINS)
    assert grids["K_per_C"]["coverage"].loc[6, 16] == 0.7
    spreads = pd.DataFrame([[200.0, 20.0, 2.0]] * 3, index=list(mixture.PHASE_RATIOS),
                           columns=list(mixture.PHASE_GAINS))
    f = mixture.phase_facts(phase, spreads)
    assert (f.tight, f.wide, f.seeds) == (6, 1, 2)
    assert f.dims.tight.utilization == pytest.approx([0.15, 0.15, 0.15])
    assert f.dims.wide.utilization == pytest.approx([0.45, 0.45, 0.95])  # D = 32 uses every code when modes overlap
    assert f.codes.many.coverage == [0.7, 1.0]  # separated, then overlapping
    assert f.gains.spread == [200.0, 20.0, 2.0]  # mean over the rows, per scale
    # the cell all three slices share is named once, by its D
    assert "D = 8 at 6 std" in f.collapsed and "K / C = 4 at" not in f.collapsed and "x1 at" not in f.collapsed
    assert f.dims.collapsed == "2, 8 and 32" and f.dims.kept == "no D"
    table = mixture.phase_table(phase)
    assert table.loc[(8, 16, 1.0, 6), ("perplexity", D)] == pytest.approx(4.5)


def test_phase_data_sets_one_separation_at_every_dimension_and_a_placement_per_seed():
    import torch

    from vqlib.data import prepare

    ctx = context("smoke")
    for dim in mixture.PHASE_DIMS:
        means = prepare(mixture.phase_data(ctx, dim, 2, seed=0)).means.double()
        assert float(torch.pdist(means).min()) == pytest.approx(2 * mixture.PHASE_STD, rel=1e-5)
    first, second = (prepare(mixture.phase_data(ctx, 8, 2, seed=s)).means for s in (0, 1))
    assert not torch.allclose(first, second)
    cases = mixture.phase_cases(ctx)
    assert {c.spec.data.seed for c in cases} == {c.spec.seed for c in cases}  # the data seed is the run seed


# ---- shrinkage over training ----------------------------------------------------------------------------
def test_shrinkage_facts_follow_the_curves():
    steps = [0, 100, 200, 300]

    def history(labels, seed):
        early = labels["arm"] == B
        return pd.DataFrame({"step": steps, "shrinkage_euclidean": [1.0, 0.1, 0.2, 0.25] if early else [1.0] * 4,
                             "shrinkage_cosine": [1.0, 0.3, 0.35, 0.4] if early else [1.0] * 4,
                             "code_euclidean_distance": [0.2, 0.5, 0.8, 1.0], "embedding_euclidean_distance":
                             [0.2, 2.0, 3.0, 4.2] if early else [0.2, 5.0, 9.0, 10.0]})

    final = {B: dict(shrinkage_euclidean=0.25, shrinkage_cosine=0.4, shrinkage_rank=0.98, code_euclidean_distance=1.0,
                     embedding_euclidean_distance=4.2, code_components_99=11, embedding_components_99=12),
             D: dict(shrinkage_euclidean=1.0, shrinkage_cosine=1.0, shrinkage_rank=0.99, code_euclidean_distance=10.0,
                     embedding_euclidean_distance=10.0, code_components_99=10, embedding_components_99=10)}
    spec = dataclasses.replace(SPEC, train=TrainSpec(steps=300, batch_size=32, eval_every=100))
    shrinkage = fake_runs([({"arm": a, "seed": s}, final[a]) for a in (B, D) for s in (0, 1)], spec, history)
    f = mixture.shrinkage_facts(shrinkage)
    assert (f.dip.euclidean, f.dip.cosine, f.dip.step) == (0.1, 0.3, 100)
    assert f.settle.step == 100 and f.settle.deviation == pytest.approx(0.15)  # from the switch T_c = 100 on
    assert f.growth == pytest.approx(4.0 / 0.8) and f.held_back == "less than half"
    assert f.claims.shrinkage.effect == pytest.approx(4.0) and f.claims.shrinkage.verdict == "agrees"


# ---- initialization scale ---------------------------------------------------------------------------------
def test_init_scale_facts_group_the_scales_by_what_they_measure():
    ctx = context("smoke")
    sweep = {1e-3: 0.2, 1e-2: 0.22, 0.1: 0.3, 1: 0.29, 10: 1 / 32, 100: 1 / 32}  # utilization of seed 0
    rows = [({"arm": "early_normal", "relative_scale": s, "seed": seed},
             {"utilization": u + 0.02 * seed, "coverage": 0.1 if s > 1 else u * 3, "perplexity": u * 30})
            for s, u in sweep.items() for seed in (0, 1)]
    init_scale = fake_runs(rows)
    reference = fake_runs([({"arm": arm, "seed": seed}, {"utilization": u, "coverage": c, "perplexity": p})
                           for arm, u, c, p in ((B, 0.24, 0.7, 7.0), (D, 1.0, 1.0, 26.0)) for seed in (0, 1)])
    f = mixture.init_scale_facts(init_scale, reference, ctx)
    assert f.better.scales == ["0.1×", "1×"] and f.worse.scales == ["10⁻³×", "10⁻²×"]
    assert f.wide.scales == ["10×", "100×"] and f.wide.codes == pytest.approx([1.32, 1.32])
    assert f.wide.components == pytest.approx([1.0, 1.0]) and f.better.overlap == "lie above"
    assert f.spread_ratio == pytest.approx(f.data_spread / f.untrained_spread) and f.spread_ratio > 1
    assert f.claims.init_scale.first == 1.0 and f.claims.init_scale.second == pytest.approx(0.31)  # best: 0.1×
    assert f.claims.init_scale.verdict == "agrees"
    text = render("{wide.scales} end with {wide.codes:range .0f} code; {worse.utilization:range %.0}", f)
    assert text == "10× and 100× end with 1 code; 21–23 %"



def test_the_init_scale_figure_draws_every_arm_in_its_own_colour(monkeypatch):
    """01_init_scale drew the swept early-normal arm in the colour cycle's first colour (the deferred arm's)."""
    from matplotlib.colors import to_rgba

    from vqlib.plotting import mixture as plots
    from vqlib.plotting import plt

    rows = [({"arm": "early_normal", "relative_scale": s, "seed": seed}, {"utilization": 0.2, "coverage": 0.5,
                                                                         "perplexity": 6.0})
            for s in mixture.RELATIVE_SCALES for seed in (0, 1)]
    reference = fake_runs([({"arm": arm, "seed": seed}, {"utilization": u, "coverage": u, "perplexity": 10 * u})
                           for arm, u in ((B, 0.24), (D, 1.0)) for seed in (0, 1)])
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, name, *args, **kwargs: figures.append(fig) or name)
    plots.init_scale(fake_runs(rows), reference, context("smoke"))
    (fig,) = figures
    for ax in fig.axes:
        (sweep,) = [line for line in ax.lines if len(line.get_xdata()) == len(mixture.RELATIVE_SCALES)
                    and line.get_linestyle() != "None"]
        assert to_rgba(sweep.get_color()) == to_rgba(ARMS["early_normal"].color)
        handles, labels = ax.get_legend_handles_labels()
        (entry,) = [h for h, label in zip(handles, labels) if label.startswith(ARMS["early_normal"].label)]
        assert to_rgba(entry.get_color()) == to_rgba(ARMS["early_normal"].color)
        for arm in (BASELINE, DEFERRED):
            (line,) = [line for line in ax.lines if line.get_label() == arm.label]
            assert to_rgba(line.get_color()) == to_rgba(arm.color)
    plt.close(fig)

def test_settings_facts_and_the_first_line_come_from_the_scale():
    ctx = context("smoke")
    f = mixture.settings_facts(ctx)
    assert (f.steps, f.t_c, f.sweep_steps, f.seeds, f.batch) == (60, 20, 40, 1, 256)
    assert mixture.describe(ctx) == "scale smoke: 60 steps per run (40 in sweeps), seeds [0], T_c = 20 steps for the " \
                                    "deferred arm"


# ---- facts that read the trained models (smoke runs) -------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_runs(one_thread, tmp_path_factory):
    """Notebook 01's picture and usage runs at the smoke scale, trained once for this module."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("VQLIB_CACHE", "VQLIB_DATA", "VQLIB_FIGURES"):
            patch.setenv(name, str(tmp_path_factory.mktemp(name.lower())))
        patch.setenv("VQLIB_PROGRESS", "0")
        ctx = context("smoke")
        yield ctx, run_cases(mixture.picture_cases(ctx)), run_cases(mixture.usage_cases(ctx))


def test_picture_and_toy_facts_agree_with_the_tables_and_claims(smoke_runs):
    ctx, picture, _ = smoke_runs
    f = mixture.picture_facts(picture, ctx)
    spreads = mixture.encoder_spreads(picture)
    assert f.zoom == pytest.approx([t / u for t, u in zip(spreads["trained"], spreads["untrained"])])
    row = mixture.picture_row(picture, 8)
    assert row.zoom == pytest.approx(f.zoom[1]) and row.spreads == pytest.approx((f.untrained[1], f.trained[1]))
    table = mixture.picture_table(picture)
    baseline = table[table.arm_label == BASELINE.label]
    assert f.baseline.used == [round(u * 32) for u in baseline.utilization]
    assert [d + u for d, u in zip(f.baseline.dead, f.baseline.used)] == [32, 32, 32]
    assert f.lost.D == [d for d, c in zip(mixture.PICTURE_DIMS, baseline.coverage) if c < 1]
    ratio = np.mean(spreads["trained"]) / np.mean(spreads["untrained"])
    assert f.claims.embedding_spread.effect == pytest.approx(ratio)

    toy = mixture.toy_table(picture)
    entropy = mixture.mode_entropies(picture)
    assert toy[toy.arm == DEFERRED.label].entropy.tolist() == pytest.approx(entropy[D], abs=5e-4)
    assert [sum(c) for c in toy["codes per mode"]] == [32] * 6
    t = mixture.toy_facts(picture)
    assert t.baseline.entropy == entropy[B] and t.ceiling == pytest.approx(math.log(10))
    assert t.claims.toy.first == pytest.approx(np.mean(entropy[D])) and t.claims.toy.second == pytest.approx(
        np.mean(entropy[B]))
    counts = mixture.mode_counts(picture)
    assert t.missing.D == [d for d, c in zip(mixture.PICTURE_DIMS, counts[B]) if (c == 0).any()]
    assert sorted(mixture.tsne_facts(picture).deferred.per_mode) == sorted(np.concatenate(counts[D]).tolist())


def test_usage_facts_and_table_share_the_centred_spreads(smoke_runs):
    _, _, usage = smoke_runs
    table = mixture.usage_table(usage)
    f = mixture.usage_facts(usage)
    assert table.loc["deferred", "centred_code_cosine_distance"] == pytest.approx(f.deferred.centred, abs=5e-4)
    assert f.claims.centred_spread.first == pytest.approx(np.mean(mixture.centred_spreads(usage, DEFERRED)))
    history = usage.one(arm=B).history
    assert f.baseline.start == history.utilization.iloc[0] and f.baseline.dip == history.utilization.iloc[1:].min()
    assert f.seeds == 1 and f.earlier.seeds == 1 and f.K == 32
    assert f.deferred.uses == ("every code on every seed" if f.deferred.utilization == 1 else
                               f"{100 * f.deferred.utilization:.0f} % of its codes on average")
    # the claims table is the sections' claims, in the notebook's order
    rows = claims_table(mixture.usage_claims(usage))
    assert rows.claim.tolist()[:2] == ["utilization: deferred vs baseline (D=8)",
                                       "code spread (cos): deferred vs baseline"]
    assert mixture.claims_facts(usage, usage).changed == "no"  # one seed now and before: nothing changed
