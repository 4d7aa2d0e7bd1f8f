"""Notebook 01: codebook collapse on Gaussian mixtures - the spec list of every figure and the claims.

Figures: the picture of shrinkage at several input dimensions, usage over training by initialization, the
scale of a random codebook, encoder capacity, codebook size, and shrinkage over training on a larger
mixture. Every function takes the study context; seeds come from its scale (``Scale.seeds`` for the headline
comparisons, ``Scale.sweep_seeds`` per sweep point).
"""

from __future__ import annotations

import dataclasses

from .. import metrics
from ..data import prepare
from ..experiments import ModelSpec
from . import settings, views
from .arms import ARMS, INITIALIZATION_ARMS
from .claims import Claim
from .context import Context
from .core import Case, Runs, arm_case
from .views import encoder_outputs

__all__ = ["PICTURE_DIMS", "STUDY_DIM", "RELATIVE_SCALES", "CAPACITIES", "CODEBOOK_SIZES", "picture_cases",
           "usage_cases", "init_scale_cases", "capacity_cases", "codebook_size_cases", "shrinkage_cases",
           "sweep_seeds", "spreads", "encoder_spreads", "centred_spreads", "mode_entropies", "claims", "sweep_base",
           "phase_cases",
           "PHASE_DIMS", "PHASE_STDS", "PHASE_CODES_PER_COMPONENT", "PHASE_MIN_DISTANCE"]

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

BASELINE, DEFERRED = ARMS["early_kmeans"], ARMS["deferred"]


def _seeds(ctx: Context) -> list[int]:
    """The headline comparisons' seeds (``Scale.seeds``)."""
    return list(range(ctx.scale.seeds))


def sweep_seeds(ctx: Context) -> list[int]:
    """The seeds of every sweep point (``Scale.sweep_seeds``)."""
    return list(range(ctx.scale.sweep_seeds))


def sweep_base(ctx: Context):
    """The 10-component mixture in D = STUDY_DIM with ``sweep_points`` points and the sweeps' budget."""
    s = ctx.scale
    return settings.mixture_base(ctx, STUDY_DIM, s.sweep_points // 10, train=settings.mixture_sweep_train(ctx))


def picture_cases(ctx: Context) -> list[Case]:
    """Baseline and deferred at every D of PICTURE_DIMS, seed 0 (labels: D, arm)."""
    return [arm_case(settings.mixture_base(ctx, dim), a, 0, D=dim)
            for dim in PICTURE_DIMS for a in (BASELINE, DEFERRED)]


def usage_cases(ctx: Context) -> list[Case]:
    """The four initialization arms at D = STUDY_DIM, every seed."""
    base = settings.mixture_base(ctx, STUDY_DIM)
    return [arm_case(base, ARMS[a], seed) for a in INITIALIZATION_ARMS for seed in _seeds(ctx)]


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
    base, seeds = sweep_base(ctx), sweep_seeds(ctx)
    data_spread = spreads(ctx)["data"]
    normal = ARMS["early_normal"]
    sweep = [Case(dataclasses.replace(c.spec, train=dataclasses.replace(c.spec.train, init_scale=r * data_spread)),
                  {**c.labels, "relative_scale": r})
             for r in RELATIVE_SCALES for c in [arm_case(base, normal, seed) for seed in seeds]]
    reference = [arm_case(base, a, seed) for a in (BASELINE, DEFERRED) for seed in seeds]
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
    return [arm_case(base, a, seed) for a in (BASELINE, DEFERRED) for seed in _seeds(ctx)]


def encoder_spreads(picture: Runs) -> dict[str, list[float]]:
    """Mean pairwise distance of the untrained and of the trained encoder's outputs at every D of the
    picture (the deferred run's encoder: trained without a quantizer for most of its life)."""
    out: dict[str, list[float]] = {"untrained": [], "trained": []}
    for dim in PICTURE_DIMS:
        result = picture.one(D=dim, arm=DEFERRED.id)
        inputs = prepare(result.spec.data).eval
        out["untrained"].append(metrics.mean_pairwise_euclidean_distance(encoder_outputs(result.spec, inputs)))
        out["trained"].append(metrics.mean_pairwise_euclidean_distance(encoder_outputs(result, inputs)))
    return out


def centred_spreads(usage: Runs, arm_id: str) -> list[float]:
    """:func:`vqlib.studies.views.centred_code_spread` of every seed's final codebook of ``arm_id``."""
    out = []
    for result in usage.select(arm=arm_id).results:
        out.append(views.centred_code_spread(result, prepare(result.spec.data).eval))
    return out


#: where early quantization collapses: the phase diagram's axes (C = 10 components, means at least 0.3 apart)
PHASE_DIMS = (2, 8, 32)
PHASE_STDS = (0.05, 0.15, 0.3)  # component spread; separation / spread = 0.3 / std = 6, 2, 1
PHASE_CODES_PER_COMPONENT = (1, 4, 16)
PHASE_MIN_DISTANCE = 0.3


def phase_cases(ctx: Context) -> list[Case]:
    """Baseline and deferral (the sweep seeds and budget) on two slices through (D, separation / spread, K / C):
    D x spread at K / C = 4, and K / C x spread at D = 8 (labels: D, std, K_per_C)."""
    s = ctx.scale
    configs = {(d, std, 4) for d in PHASE_DIMS for std in PHASE_STDS}
    configs |= {(8, std, k) for k in PHASE_CODES_PER_COMPONENT for std in PHASE_STDS}
    cases = []
    for dim, std, per_component in sorted(configs):
        data = dataclasses.replace(settings.paper_mixture(ctx, dim, s.sweep_points // 10), std=std,
                                   min_distance=PHASE_MIN_DISTANCE)
        model = dataclasses.replace(settings.SMALL_MIXTURE_MODEL, num_codes=10 * per_component)
        base = settings.mixture_base(ctx, model=model, train=settings.mixture_sweep_train(ctx))
        base = dataclasses.replace(base, data=data)
        cases += [arm_case(base, a, seed, D=dim, std=std, K_per_C=per_component) for a in (BASELINE, DEFERRED)
                  for seed in sweep_seeds(ctx)]
    return cases


def mode_entropies(picture: Runs) -> dict[str, list[float]]:
    """The toy theory's diversity (:func:`vqlib.studies.views.mode_entropy`) of the baseline's and the deferred
    arm's codebooks at every D of the picture (seed 0)."""
    out: dict[str, list[float]] = {BASELINE.id: [], DEFERRED.id: []}
    for dim in PICTURE_DIMS:
        for arm_id in out:
            result = picture.one(D=dim, arm=arm_id)
            data = prepare(result.spec.data)
            counts = views.codes_per_mode(result, data.eval, data.eval_labels, data.num_components)
            out[arm_id].append(views.mode_entropy(counts))
    return out


def claims(picture: Runs, usage: Runs, capacity: Runs, sizes: Runs, shrinkage: Runs) -> list[Claim]:
    """The paper's claims that notebook 01 can test, each on the runs of its figure."""
    b, d = BASELINE.id, DEFERRED.id
    spread = encoder_spreads(picture)
    entropy = mode_entropies(picture)
    k_small, k_large = CODEBOOK_SIZES[0], CODEBOOK_SIZES[-1]

    def gain(k):  # perplexity of deferral over the baseline's, per seed
        return [x / y for x, y in zip(sizes.values("perplexity", K=k, arm=d), sizes.values("perplexity", K=k, arm=b))]

    def width(w, metric):
        return capacity.values(metric, capacity=f"width {w}", arm=b)

    return [
        Claim(f"utilization: deferred vs baseline (D={STUDY_DIM})", "higher",
              usage.values("utilization", arm=d), usage.values("utilization", arm=b)),
        Claim("code spread (cos): deferred vs baseline", "higher",
              usage.values("code_cosine_distance", arm=d), usage.values("code_cosine_distance", arm=b)),
        Claim("code spread (cos, centred on the embeddings' mean): deferred vs baseline", "higher",
              centred_spreads(usage, d), centred_spreads(usage, b), stated=False),
        Claim("coverage: deferred vs baseline", "higher", usage.values("coverage", arm=d),
              usage.values("coverage", arm=b)),
        Claim("spread of the *used* codes (cos): deferred vs baseline", "higher",
              usage.values("used_code_cosine_distance", arm=d), usage.values("used_code_cosine_distance", arm=b)),
        Claim("utilization: deferred vs early normal (s = 1)", "higher", usage.values("utilization", arm=d),
              usage.values("utilization", arm="early_normal"), stated=False),
        Claim("shrinkage ratio (Euclid.): deferred vs baseline (C=64)", "higher",
              shrinkage.values("shrinkage_euclidean", arm=d), shrinkage.values("shrinkage_euclidean", arm=b)),
        Claim(f"embedding spread: trained vs untrained encoder (pairs: D = {PICTURE_DIMS})", "higher",
              spread["trained"], spread["untrained"]),
        Claim(f"toy theory, entropy of codes over modes: deferred vs baseline (pairs: D = {PICTURE_DIMS})", "higher",
              entropy[d], entropy[b], stated=False),
        Claim("embedding eff. rank: width 256 vs width 4 (baseline)", "higher",
              width(256, "embedding_effective_rank"), width(4, "embedding_effective_rank")),
        Claim("coverage: width 256 vs width 4 (baseline)", "higher", width(256, "coverage"), width(4, "coverage")),
        Claim(f"perplexity gain of deferral (ratio) at K={k_large} vs K={k_small}", "higher", gain(k_large),
              gain(k_small)),
    ]


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 01 draws, by figure (:mod:`vqlib.studies.registry`)."""
    sweep, reference = init_scale_cases(ctx)
    return {"picture": picture_cases(ctx), "usage": usage_cases(ctx), "init scale": sweep,
            "init scale reference": reference, "capacity": capacity_cases(ctx),
            "codebook size": codebook_size_cases(ctx), "shrinkage": shrinkage_cases(ctx),
            "phase diagram": phase_cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 01's claims from its (cached) runs."""
    from .core import run_cases

    lists = case_lists(ctx)
    runs = {name: run_cases(lists[name], desc=name) for name in ("picture", "usage", "capacity", "codebook size",
                                                               "shrinkage")}
    return claims(runs["picture"], runs["usage"], runs["capacity"], runs["codebook size"], runs["shrinkage"])
