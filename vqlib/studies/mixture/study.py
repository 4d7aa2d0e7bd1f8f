"""Notebook 01's study: the spec list of every figure, what the figures show of the runs, the tables shown under
them, and the claims (by section; the claims table is their concatenation).

Figures: the picture of shrinkage at several input dimensions, usage over training by initialization, the
scale of a random codebook, encoder capacity, codebook size, shrinkage over training on a larger mixture, the
toy theory and the phase diagram. Every function takes the study context or the runs; seeds come from the scale
(``Scale.seeds`` for the headline comparisons, ``Scale.sweep_seeds`` per sweep point).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import metrics
from ...data import MixtureSpec, prepare
from ...experiments import ModelSpec, RunResult
from .. import settings, views
from ..arms import ARMS, BASELINE, DEFERRED, INITIALIZATION_ARMS
from ..claims import Claim
from ..context import Context
from ..core import Case, Runs, arm_case
from ..views import CodebookView, encoder_outputs

__all__ = ["PICTURE_DIMS", "STUDY_DIM", "RELATIVE_SCALES", "CAPACITIES", "CODEBOOK_SIZES", "EARLIER_SEEDS",
           "picture_cases", "usage_cases", "init_scale_cases", "capacity_cases", "codebook_size_cases",
           "shrinkage_cases", "phase_cases", "case_lists", "seeds", "sweep_seeds", "sweep_base", "describe",
           "spreads", "encoder_spreads", "centred_spreads", "mode_counts", "mode_entropies", "perplexity_gain",
           "PictureRow", "picture_row", "capacity_frame", "phase_grids",
           "picture_table", "usage_table", "init_scale_table", "capacity_table", "codebook_size_table",
           "shrinkage_table", "toy_table", "phase_table",
           "picture_claims", "usage_claims", "init_scale_claims", "capacity_claims", "codebook_size_claims",
           "shrinkage_claims", "toy_claims", "claims", "study_claims",
           "PHASE_DIMS", "PHASE_RATIOS", "PHASE_STD", "PHASE_CODES_PER_COMPONENT", "PHASE_GAINS", "PHASE_K_PER_C",
           "PHASE_DIM", "PHASE_GAIN", "PHASE_SLICES", "phase_data", "phase_spreads"]

#: input dimensions D of the shrinkage picture
PICTURE_DIMS = (2, 8, 32)
#: D of the usage, initialization-scale and codebook-size studies
STUDY_DIM = 8
#: std of the random-normal codebook relative to the spread of the data
RELATIVE_SCALES = (1e-3, 1e-2, 1e-1, 1, 10, 100)
#: (label, encoder depth, encoder width) of the capacity sweep on the 64-component mixture
CAPACITIES = (("linear", 0, 64), *((f"depth {d}", d, 64) for d in (1, 2, 3, 4)),
              *((f"width {w}", 2, w) for w in (4, 16, 256)))
#: K on the 10-component mixture, from C/2 to 16 C
CODEBOOK_SIZES = (5, 10, 20, 40, 80, 160)
#: the headline comparisons' seeds before they became ``Scale.seeds`` (the prose reports what changed since)
EARLIER_SEEDS = 3



def seeds(ctx: Context) -> list[int]:
    """The headline comparisons' seeds (``Scale.seeds``)."""
    return list(range(ctx.scale.seeds))


def sweep_seeds(ctx: Context) -> list[int]:
    """The seeds of every sweep point (``Scale.sweep_seeds``)."""
    return list(range(ctx.scale.sweep_seeds))


def describe(ctx: Context) -> str:
    """The notebook's first line: scale, budgets, seeds and the deferred arm's switch."""
    s = ctx.scale
    return (f"scale {s.name}: {s.mixture_steps} steps per run ({s.sweep_steps} in sweeps), seeds {seeds(ctx)}, "
            f"T_c = {DEFERRED.t_c(s.mixture_steps)} steps for the deferred arm")


def sweep_base(ctx: Context):
    """The 10-component mixture in D = STUDY_DIM with ``sweep_points`` points and the sweeps' budget."""
    s = ctx.scale
    return settings.mixture_base(ctx, STUDY_DIM, s.sweep_points // 10, train=settings.mixture_sweep_train(ctx))


# ---- case lists ------------------------------------------------------------------------------------------

def picture_cases(ctx: Context) -> list[Case]:
    """Baseline and deferred at every D of PICTURE_DIMS, seed 0 (labels: D, arm)."""
    return [arm_case(settings.mixture_base(ctx, dim), a, 0, D=dim)
            for dim in PICTURE_DIMS for a in (BASELINE, DEFERRED)]


def usage_cases(ctx: Context) -> list[Case]:
    """The four initialization arms at D = STUDY_DIM, every seed."""
    base = settings.mixture_base(ctx, STUDY_DIM)
    return [arm_case(base, ARMS[a], seed) for a in INITIALIZATION_ARMS for seed in seeds(ctx)]


def spreads(ctx: Context) -> dict[str, float]:
    """Root-mean-square per-coordinate std of the sweep data and of the untrained encoder's outputs on it
    (the scale a codebook must meet at step 0)."""
    base = sweep_base(ctx)
    data = prepare(base.data)
    untrained = encoder_outputs(BASELINE(base), data.train)
    return {"data": float(data.train.var(0).mean().sqrt()), "untrained_encoder": float(untrained.var(0).mean().sqrt())}


def init_scale_cases(ctx: Context) -> tuple[list[Case], list[Case]]:
    """The early-normal arm with its codebook std at RELATIVE_SCALES x the data's spread (label
    relative_scale), and the baseline and deferred arms on the same data as references."""
    base, seeds_ = sweep_base(ctx), sweep_seeds(ctx)
    data_spread = spreads(ctx)["data"]
    normal = ARMS["early_normal"]
    sweep = [Case(dataclasses.replace(c.spec, train=dataclasses.replace(c.spec.train, init_scale=r * data_spread)),
                  {**c.labels, "relative_scale": r})
             for r in RELATIVE_SCALES for c in [arm_case(base, normal, seed) for seed in seeds_]]
    reference = [arm_case(base, a, seed) for a in (BASELINE, DEFERRED) for seed in seeds_]
    return sweep, reference


def capacity_cases(ctx: Context) -> list[Case]:
    """Encoder depth and width on the 64-component mixture, both arms, the sweep seeds (labels: capacity, depth,
    width, arm)."""
    cases = []
    for label, depth, width in CAPACITIES:
        model = ModelSpec(num_codes=settings.BIG_MIXTURE_MODEL.num_codes,
                          latent_dim=settings.BIG_MIXTURE_MODEL.latent_dim, depth=depth, width=width)
        base = settings.big_mixture_base(ctx, model, settings.mixture_sweep_train(ctx))
        cases += [arm_case(base, a, seed, capacity=label, depth=depth, width=width) for a in (BASELINE, DEFERRED)
                  for seed in sweep_seeds(ctx)]
    return cases


def codebook_size_cases(ctx: Context) -> list[Case]:
    """K in CODEBOOK_SIZES on the 10-component mixture, both arms, the sweep seeds (label K)."""
    base = sweep_base(ctx)
    return [arm_case(dataclasses.replace(base, model=ModelSpec(num_codes=k, latent_dim=base.model.latent_dim)),
                     a, seed, K=k)
            for k in CODEBOOK_SIZES for a in (BASELINE, DEFERRED) for seed in sweep_seeds(ctx)]


def shrinkage_cases(ctx: Context) -> list[Case]:
    """Both arms on the 64-component mixture at the full budget, every seed, with curves."""
    base = settings.big_mixture_base(ctx)
    return [arm_case(base, a, seed) for a in (BASELINE, DEFERRED) for seed in seeds(ctx)]


#: where early quantization collapses: the phase diagram (C = 10 components, the sweeps' budget and seeds). Rows:
#: the separation of the modes, the closest two means PHASE_RATIOS component stds apart (the means rescaled, so a
#: row means one separation at every D). Three slices, each against the rows:
PHASE_RATIOS = (1, 2, 6)
PHASE_STD = 0.05
#: the input dimension D (at K / C = PHASE_K_PER_C and gain PHASE_GAIN)
PHASE_DIMS = (2, 8, 32)
#: codes per component K / C (at D = PHASE_DIM)
PHASE_CODES_PER_COMPONENT = (1, 4, 16)
#: the untrained encoder's output scale against the data's: ModelSpec.encoder_gain (at D = PHASE_DIM)
PHASE_GAINS = (0.1, 1.0, 10.0)
PHASE_K_PER_C, PHASE_DIM, PHASE_GAIN = 4, 8, 1.0
#: each slice: its label in the phase table and the values it sweeps
PHASE_SLICES = (("D", PHASE_DIMS), ("K_per_C", PHASE_CODES_PER_COMPONENT), ("gain", PHASE_GAINS))


def phase_data(ctx: Context, dim: int, ratio: float, seed: int) -> MixtureSpec:
    """The phase diagram's mixture: 10 components of std PHASE_STD, the closest means ``ratio`` stds apart, the
    means placed by ``seed`` (every run seed its own placement: where the means fall matters)."""
    return dataclasses.replace(settings.paper_mixture(ctx, dim, ctx.scale.sweep_points // 10), std=PHASE_STD,
                               nearest_ratio=float(ratio), seed=seed)


def phase_cases(ctx: Context) -> list[Case]:
    """Baseline and deferral (the sweep seeds and budget) in the three slices of the phase diagram, every seed on
    its own placement of the means (labels: D, ratio, K_per_C, gain)."""
    configs = {(d, r, PHASE_K_PER_C, PHASE_GAIN) for d in PHASE_DIMS for r in PHASE_RATIOS}
    configs |= {(PHASE_DIM, r, k, PHASE_GAIN) for k in PHASE_CODES_PER_COMPONENT for r in PHASE_RATIOS}
    configs |= {(PHASE_DIM, r, PHASE_K_PER_C, g) for g in PHASE_GAINS for r in PHASE_RATIOS}
    cases = []
    for dim, ratio, per_component, gain in sorted(configs):
        model = dataclasses.replace(settings.SMALL_MIXTURE_MODEL, num_codes=10 * per_component, encoder_gain=gain)
        base = settings.mixture_base(ctx, model=model, train=settings.mixture_sweep_train(ctx))
        for seed in sweep_seeds(ctx):
            spec = dataclasses.replace(base, data=phase_data(ctx, dim, ratio, seed))
            cases += [arm_case(spec, a, seed, D=dim, ratio=ratio, K_per_C=per_component, gain=gain)
                      for a in (BASELINE, DEFERRED)]
    return cases


def phase_spreads(ctx: Context) -> pd.DataFrame:
    """The data's spread over the untrained encoder's (mean pairwise distances, seed 0 of the baseline) in the
    gain slice: [ratio x gain]. What k-means at step 0 sees is this many times narrower than the data."""
    rows = []
    for ratio in PHASE_RATIOS:
        data = prepare(phase_data(ctx, PHASE_DIM, ratio, 0)).train
        for gain in PHASE_GAINS:
            model = dataclasses.replace(settings.SMALL_MIXTURE_MODEL, num_codes=10 * PHASE_K_PER_C, encoder_gain=gain)
            spec = BASELINE(settings.mixture_base(ctx, model=model, train=settings.mixture_sweep_train(ctx)))
            spec = dataclasses.replace(spec, data=phase_data(ctx, PHASE_DIM, ratio, 0))
            rows.append({"ratio": ratio, "gain": gain, "spread": metrics.mean_pairwise_euclidean_distance(data)
                         / metrics.mean_pairwise_euclidean_distance(encoder_outputs(spec, data))})
    return pd.DataFrame(rows).pivot(index="ratio", columns="gain", values="spread")


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 01 draws, by figure (:mod:`vqlib.studies.registry`)."""
    sweep, reference = init_scale_cases(ctx)
    return {"picture": picture_cases(ctx), "usage": usage_cases(ctx), "init scale": sweep,
            "init scale reference": reference, "capacity": capacity_cases(ctx),
            "codebook size": codebook_size_cases(ctx), "shrinkage": shrinkage_cases(ctx),
            "phase diagram": phase_cases(ctx)}


# ---- what the figures show and the tables under them -----------------------------------------------------

_MEMO: dict[tuple[str, str], object] = {}


def _memo(kind: str, result: RunResult, compute):
    """``compute(result)``, once per process and run: a finished run never changes (its key is its content), and
    the figure, the table, the prose and the claims of a section look at the same runs."""
    key = (kind, result.key)
    if key not in _MEMO:
        _MEMO[key] = compute(result)
    return _MEMO[key]


def _encoder_pair(result: RunResult) -> tuple[torch.Tensor, torch.Tensor]:
    """The untrained (step 0) and the trained encoder's outputs on the run's evaluation points."""
    def compute(run):
        inputs = prepare(run.spec.data).eval
        return encoder_outputs(run.spec, inputs), encoder_outputs(run, inputs)

    return _memo("encoder outputs", result, compute)


def encoder_spreads(picture: Runs) -> dict[str, list[float]]:
    """Mean pairwise distance of the untrained and of the trained encoder's outputs at every D of the
    picture (the deferred run's encoder: trained without a quantizer for most of its life)."""
    pairs = [_encoder_pair(picture.one(D=dim, arm=DEFERRED)) for dim in PICTURE_DIMS]
    return {"untrained": [metrics.mean_pairwise_euclidean_distance(u) for u, _ in pairs],
            "trained": [metrics.mean_pairwise_euclidean_distance(t) for _, t in pairs]}


@dataclass
class PictureRow:
    """One row of the shrinkage picture (input dimension ``dim``): every panel's points, projected."""

    dim: int
    labels: torch.Tensor  # the mixture component of every evaluation point
    data: torch.Tensor  # the evaluation points in their principal plane
    reconstructions: dict[str, torch.Tensor]  # arm id -> reconstructions in the data's principal plane
    codebooks: dict[str, CodebookView]  # arm id -> the codebook over its embeddings
    coverage: dict[str, float]  # arm id -> final coverage
    untrained: torch.Tensor  # the untrained encoder's outputs in the trained encoder's principal plane
    trained: torch.Tensor  # the trained (deferred) encoder's outputs in their principal plane
    spreads: tuple[float, float]  # mean pairwise distance of the untrained and of the trained outputs
    untrained_own: torch.Tensor  # the untrained outputs in their own principal plane
    zoom: float  # trained spread / untrained spread


def picture_row(picture: Runs, dim: int) -> PictureRow:
    """The panels of the shrinkage picture at input dimension ``dim`` (baseline and deferred, seed 0)."""
    runs = {a.id: picture.one(D=dim, arm=a) for a in (BASELINE, DEFERRED)}
    data = prepare(runs[BASELINE.id].spec.data)
    data_basis = metrics.pca_basis(data.eval)
    recon = {a: metrics.project(views.reconstructions(r, data.eval), data_basis) for a, r in runs.items()}
    codebooks = {a: views.codebook_view(r, data.eval) for a, r in runs.items()}
    untrained, trained = _encoder_pair(runs[DEFERRED.id])
    trained_basis = metrics.pca_basis(trained)  # one basis and one scale for both panels
    spread = (metrics.mean_pairwise_euclidean_distance(untrained), metrics.mean_pairwise_euclidean_distance(trained))
    return PictureRow(dim, data.eval_labels, metrics.project(data.eval, data_basis), recon, codebooks,
                      {a: r.final["coverage"] for a, r in runs.items()}, metrics.project(untrained, trained_basis),
                      metrics.project(trained, trained_basis), spread,
                      metrics.project(untrained, metrics.pca_basis(untrained)), spread[1] / spread[0])


def picture_table(picture: Runs) -> pd.DataFrame:
    """The picture's runs: final metrics by D and arm."""
    return picture.table[["D", "arm_label", "recon_mse", "utilization", "perplexity", "coverage",
                          "reconstruction_coverage", "code_cosine_distance", "shrinkage_euclidean"]].round(3)


def _centred_spread(result: RunResult) -> float:
    return _memo("centred spread", result, lambda run: views.centred_code_spread(run, prepare(run.spec.data).eval))


def _codes_per_mode(result: RunResult) -> np.ndarray:
    def compute(run):
        data = prepare(run.spec.data)
        return views.codes_per_mode(run, data.eval, data.eval_labels, data.num_components)

    return _memo("codes per mode", result, compute)


def centred_spreads(usage: Runs, arm) -> list[float]:
    """:func:`vqlib.studies.views.centred_code_spread` of every seed's final codebook of ``arm``."""
    return [_centred_spread(r) for r in usage.select(arm=arm).results]


def usage_table(usage: Runs) -> pd.DataFrame:
    """Means over seeds per arm of the usage study's final metrics, with the centred code spread."""
    table = usage.table.assign(centred_code_cosine_distance=[_centred_spread(r) for r in usage.results])
    return table.groupby("arm_label", sort=False)[["utilization", "perplexity", "coverage", "code_cosine_distance",
                                                   "centred_code_cosine_distance", "used_code_cosine_distance",
                                                   "shrinkage_euclidean", "recon_mse"]].mean().round(3)


def init_scale_table(init_scale: Runs) -> pd.DataFrame:
    """Means over seeds per relative scale of the random-normal codebook."""
    return init_scale.table.groupby("relative_scale")[["utilization", "coverage", "perplexity",
                                                        "recon_mse"]].mean().round(3)


def capacity_frame(capacity: Runs) -> pd.DataFrame:
    """The capacity runs' table, with the embeddings' mean pairwise distance as ``embedding spread``."""
    table = capacity.table
    table["embedding spread"] = table["embedding_euclidean_distance"]
    return table


def capacity_table(capacity: Runs) -> pd.DataFrame:
    """Means over seeds per capacity and arm, with the number of seeds."""
    means = capacity_frame(capacity).groupby(["capacity", "arm_label"], sort=False)
    return means[["embedding_effective_rank", "embedding spread", "coverage", "utilization",
                  "recon_mse"]].mean().assign(seeds=means.size()).round(3)


def codebook_size_table(sizes: Runs) -> pd.DataFrame:
    """Means over seeds per K and arm."""
    return sizes.table.groupby(["K", "arm_label"], sort=False)[["utilization", "perplexity", "coverage",
                                                                "recon_mse"]].mean().round(3)


def shrinkage_table(shrinkage: Runs) -> pd.DataFrame:
    """Means over seeds per arm of the final spreads, their ratios and effective dimensions."""
    return shrinkage.table.groupby("arm_label")[["shrinkage_euclidean", "shrinkage_cosine", "shrinkage_rank",
                                                 "utilization", "code_euclidean_distance",
                                                 "embedding_euclidean_distance", "code_components_99",
                                                 "embedding_components_99", "recon_mse"]].mean().round(3)


def mode_counts(picture: Runs) -> dict[str, list[np.ndarray]]:
    """Codes per mode (:func:`vqlib.studies.views.codes_per_mode`) of the baseline's and the deferred arm's
    codebooks at every D of the picture (seed 0), by arm id."""
    return {a.id: [_codes_per_mode(picture.one(D=dim, arm=a)) for dim in PICTURE_DIMS] for a in (BASELINE, DEFERRED)}


def mode_entropies(picture: Runs, counts: dict[str, list[np.ndarray]] | None = None) -> dict[str, list[float]]:
    """The toy theory's diversity (:func:`vqlib.studies.views.mode_entropy`) of :func:`mode_counts`."""
    counts = mode_counts(picture) if counts is None else counts
    return {arm_id: [views.mode_entropy(c) for c in per_dim] for arm_id, per_dim in counts.items()}


def toy_table(picture: Runs) -> pd.DataFrame:
    """The toy theory by D and arm: entropy of the codes over modes, modes with a code, codes per mode."""
    counts = mode_counts(picture)
    entropy = mode_entropies(picture, counts)
    return pd.DataFrame([{"D": dim, "arm": ARMS[a].label, "entropy": entropy[a][i],
                          "modes with a code": int((counts[a][i] > 0).sum()), "codes per mode": counts[a][i].tolist()}
                         for i, dim in enumerate(PICTURE_DIMS) for a in (BASELINE.id, DEFERRED.id)]).round(3)


def perplexity_gain(table: pd.DataFrame, by: list[str]) -> pd.Series:
    """Deferral's perplexity over the baseline's, seed against seed (index: ``by`` and seed)."""
    index = [*by, "seed"]
    base = table[table.arm == BASELINE.id].set_index(index)["perplexity"]
    return table[table.arm == DEFERRED.id].set_index(index)["perplexity"] / base


def phase_grids(phase: Runs) -> dict[str, dict[str, pd.DataFrame]]:
    """Each slice of the phase diagram (by its swept label: ``D``, ``K_per_C``, ``gain``): the baseline's
    utilization and coverage and deferral's perplexity gain (seed against seed), means over seeds, as tables
    [separation ratio x swept value]."""
    table = phase.table
    fixed = {"D": {"K_per_C": PHASE_K_PER_C, "gain": PHASE_GAIN}, "K_per_C": {"D": PHASE_DIM, "gain": PHASE_GAIN},
             "gain": {"D": PHASE_DIM, "K_per_C": PHASE_K_PER_C}}
    out = {}
    for column, values in PHASE_SLICES:
        rows = table
        for name, value in fixed[column].items():
            rows = rows[rows[name] == value]
        base = rows[rows.arm == BASELINE.id].groupby(["ratio", column])
        grids = {"utilization": base["utilization"].mean(), "coverage": base["coverage"].mean(),
                 "gain": perplexity_gain(rows, ["ratio", column]).groupby(["ratio", column]).mean()}
        out[column] = {name: g.unstack(column).reindex(index=list(PHASE_RATIOS), columns=list(values))
                       for name, g in grids.items()}
    return out


def phase_table(phase: Runs) -> pd.DataFrame:
    """Means over seeds of each arm's utilization, coverage and perplexity in every cell of the phase diagram."""
    return phase.table.pivot_table(index=["D", "K_per_C", "gain", "ratio"], columns="arm",
                                   values=["utilization", "coverage", "perplexity"]).round(3)


# ---- claims, by section (the claims table is their concatenation) ----------------------------------------

def usage_claims(usage: Runs) -> list[Claim]:
    """The initialization study's claims (section 2)."""
    b, d = BASELINE, DEFERRED
    return [
        Claim(f"utilization: deferred vs baseline (D={STUDY_DIM})", "higher",
              usage.values("utilization", arm=d), usage.values("utilization", arm=b), key="utilization"),
        Claim("code spread (cos): deferred vs baseline", "higher",
              usage.values("code_cosine_distance", arm=d), usage.values("code_cosine_distance", arm=b),
              key="code_spread"),
        Claim("code spread (cos, centred on the embeddings' mean): deferred vs baseline", "higher",
              centred_spreads(usage, d), centred_spreads(usage, b), stated=False, key="centred_spread"),
        Claim("coverage: deferred vs baseline", "higher", usage.values("coverage", arm=d),
              usage.values("coverage", arm=b), key="coverage"),
        Claim("spread of the *used* codes (cos): deferred vs baseline", "higher",
              usage.values("used_code_cosine_distance", arm=d), usage.values("used_code_cosine_distance", arm=b),
              key="used_spread"),
        Claim("utilization: deferred vs early normal (s = 1)", "higher", usage.values("utilization", arm=d),
              usage.values("utilization", arm="early_normal"), stated=False, key="normal_utilization"),
    ]


def shrinkage_claims(shrinkage: Runs) -> list[Claim]:
    """Shrinkage over training (section 6)."""
    return [Claim("shrinkage ratio (Euclid.): deferred vs baseline (C=64)", "higher",
                  shrinkage.values("shrinkage_euclidean", arm=DEFERRED),
                  shrinkage.values("shrinkage_euclidean", arm=BASELINE), key="shrinkage")]


def picture_claims(picture: Runs) -> list[Claim]:
    """The picture of shrinkage (section 1): trained encoders spread wider than untrained ones."""
    spread = encoder_spreads(picture)
    return [Claim(f"embedding spread: trained vs untrained encoder (pairs: D = {PICTURE_DIMS})", "higher",
                  spread["trained"], spread["untrained"], key="embedding_spread")]


def toy_claims(picture: Runs) -> list[Claim]:
    """The toy theory (section 7)."""
    entropy = mode_entropies(picture)
    return [Claim(f"toy theory, entropy of codes over modes: deferred vs baseline (pairs: D = {PICTURE_DIMS})",
                  "higher", entropy[DEFERRED.id], entropy[BASELINE.id], stated=False, key="toy")]


def _widths() -> tuple[int, int]:
    """The narrowest and the widest encoder of the capacity sweep."""
    widths = [w for label, _, w in CAPACITIES if label.startswith("width")]
    return min(widths), max(widths)


def _width(capacity: Runs, w: int, metric: str) -> list[float]:
    return capacity.values(metric, capacity=f"width {w}", arm=BASELINE)


def capacity_claims(capacity: Runs) -> list[Claim]:
    """Encoder capacity (section 4): the baseline's embeddings at the widest against the narrowest encoder."""
    narrow, wide = _widths()
    rank = "embedding_effective_rank"
    return [Claim(f"embedding eff. rank: width {wide} vs width {narrow} (baseline)", "higher",
                  _width(capacity, wide, rank), _width(capacity, narrow, rank), key="width_rank"),
            Claim(f"coverage: width {wide} vs width {narrow} (baseline)", "higher", _width(capacity, wide, "coverage"),
                  _width(capacity, narrow, "coverage"), key="width_coverage")]


def codebook_size_claims(sizes: Runs) -> list[Claim]:
    """Codebook size (section 5): the perplexity gain of deferral at the largest against the smallest K."""
    k_small, k_large = min(CODEBOOK_SIZES), max(CODEBOOK_SIZES)
    gain = perplexity_gain(sizes.table, ["K"])
    return [Claim(f"perplexity gain of deferral (ratio) at K={k_large} vs K={k_small}", "higher",
                  gain.xs(k_large, level="K").tolist(), gain.xs(k_small, level="K").tolist(), key="gain")]


def claims(picture: Runs, usage: Runs, capacity: Runs, sizes: Runs, shrinkage: Runs) -> list[Claim]:
    """The paper's claims that notebook 01 can test, each on the runs of its figure (the claims table)."""
    return (usage_claims(usage) + shrinkage_claims(shrinkage) + picture_claims(picture) + toy_claims(picture)
            + capacity_claims(capacity) + codebook_size_claims(sizes))


def init_scale_claims(init_scale: Runs, reference: Runs) -> list[Claim]:
    """Section 3's verdict (not a row of the claims table): deferral's utilization against a random-normal
    codebook at the scale that does best."""
    best = init_scale.table.groupby("relative_scale")["utilization"].mean().idxmax()
    return [Claim(f"utilization: deferred vs early normal at its best scale ({best:g} x the data's spread)", "higher",
                  reference.values("utilization", arm=DEFERRED),
                  init_scale.values("utilization", relative_scale=best), stated=False, key="init_scale")]


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 01's claims from its (cached) runs."""
    from ..core import run_cases

    lists = case_lists(ctx)
    runs = {name: run_cases(lists[name], desc=name) for name in ("picture", "usage", "capacity", "codebook size",
                                                               "shrinkage")}
    return claims(runs["picture"], runs["usage"], runs["capacity"], runs["codebook size"], runs["shrinkage"])
