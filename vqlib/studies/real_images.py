"""Notebook 02: collapse on real images (CIFAR-10 and ImageNet) - the spec list of every figure and the claims.

Figures: usage over training by initialization on both datasets, sorted code usage, codebook size and
encoder capacity on CIFAR-10, shrinkage over training, and reconstructions. The CIFAR-10 baseline and
deferred arms (the headline comparison) run ``Scale.image_seeds`` seeds; every other arm, the ImageNet
stand-in and every sweep point ``Scale.image_sweep_seeds``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..data import Prepared, prepare
from ..experiments import ModelSpec, RunSpec
from ..images import DataSourceError
from . import settings
from .arms import ARMS, INITIALIZATION_ARMS
from .claims import Claim
from .context import Context
from .core import Case, Runs, arm_case
from .settings import CIFAR10, IMAGENET

__all__ = ["Dataset", "datasets", "arm_cases", "codebook_size_cases", "capacity_cases", "CAPACITY_KNOBS", "claims"]

BASELINE, DEFERRED = ARMS["early_kmeans"], ARMS["deferred"]
#: (knob, value, model change) of the CIFAR-10 capacity sweep
CAPACITY_KNOBS = (*(("channels", c, {"channels": c}) for c in (16, 32, 64)),
                  *(("res blocks", b, {"num_res_blocks": b}) for b in (0, 1, 2)))


@dataclass
class Dataset:
    """One dataset of the study: its base run spec, the loaded data and its source in words."""

    name: str
    base: RunSpec
    data: Prepared
    seeds: list[int]  # the headline arms' seeds; the other arms take the first ``sweep_seeds`` of them
    sweep_seeds: int

    @property
    def source(self) -> str:
        """The source's first clause (figure captions)."""
        return self.data.source.split(",")[0]


def dataset_specs(ctx: Context) -> dict[str, Dataset]:
    """The datasets of the study, without loading them (``data`` is None): CIFAR-10 always, ImageNet when the
    context names its root."""
    s = ctx.scale
    found = {CIFAR10: Dataset(CIFAR10, settings.cifar_base(ctx), None, list(range(s.image_seeds)),
                              s.image_sweep_seeds)}
    if ctx.imagenet_root:
        found[IMAGENET] = Dataset(IMAGENET, settings.imagenet_base(ctx), None, list(range(s.image_sweep_seeds)),
                                  s.image_sweep_seeds)
    return found


def datasets(ctx: Context) -> tuple[dict[str, Dataset], dict[str, str]]:
    """The datasets available here, loaded: ({name: Dataset}, {name: why it is not available}).

    CIFAR-10 is required (it downloads when no local copy is given); ImageNet is skipped with its reason
    when the context names no root, or its root cannot be read."""
    found, missing = {}, {}
    for name, ds in dataset_specs(ctx).items():
        try:
            found[name] = dataclasses.replace(ds, data=prepare(ds.base.data))
        except DataSourceError as error:
            if name == CIFAR10:
                raise
            missing[name] = str(error)
    if IMAGENET not in found and IMAGENET not in missing:
        missing[IMAGENET] = ("no ImageNet root given (the notebook's imagenet_root parameter, or VQLIB_IMAGENET; "
                             "see data/README.md)")
    return found, missing


def arm_cases(available: dict[str, Dataset]) -> list[Case]:
    """The four initialization arms on every dataset (labels: dataset, arm): baseline and deferred on every seed
    of the dataset, the other two arms on its first ``sweep_seeds``."""
    return [arm_case(ds.base, ARMS[a], seed, dataset=name)
            for name, ds in available.items() for a in INITIALIZATION_ARMS
            for seed in (ds.seeds if a in (BASELINE.id, DEFERRED.id) else ds.seeds[:ds.sweep_seeds])]


def codebook_size_cases(ctx: Context) -> list[Case]:
    """K in ``Scale.image_codebook_sizes`` on CIFAR-10, both arms, ``Scale.image_sweep_seeds`` seeds (label K).
    The default K keeps its curves (the same runs as the arm study); the others are evaluated at the start,
    switch and end."""
    s = ctx.scale
    base = settings.cifar_base(ctx)
    cases = []
    for k in s.image_codebook_sizes:
        train = base.train if k == base.model.num_codes else settings.endpoints_only(base.train)
        sized = dataclasses.replace(base, model=dataclasses.replace(base.model, num_codes=k), train=train)
        cases += [arm_case(sized, a, seed, K=k) for a in (BASELINE, DEFERRED) for seed in range(s.image_sweep_seeds)]
    return cases


def capacity_cases(ctx: Context) -> list[Case]:
    """Channels 16 -> 64 and residual blocks 0 -> 2 on CIFAR-10, both arms, ``Scale.image_sweep_seeds`` seeds
    (labels: knob, value)."""
    s = ctx.scale
    base = settings.cifar_base(ctx)
    train = settings.endpoints_only(base.train)
    cases = []
    for knob, value, change in CAPACITY_KNOBS:
        model: ModelSpec = dataclasses.replace(base.model, **change)
        cases += [arm_case(dataclasses.replace(base, model=model, train=train), a, seed, knob=knob, value=value)
                  for a in (BASELINE, DEFERRED) for seed in range(s.image_sweep_seeds)]
    return cases


def claims(arms: Runs, sizes: Runs, capacity: Runs) -> list[Claim]:
    """The paper's claims that notebook 02 can test, each on the runs of its figure."""
    b, d = BASELINE.id, DEFERRED.id
    out = []
    for name in dict.fromkeys(c.labels["dataset"] for c in arms.cases):
        for metric, label in (("utilization", "utilization"), ("perplexity", "perplexity"),
                              ("code_cosine_distance", "code spread (cos)"),
                              ("used_code_cosine_distance", "spread of used codes (cos)"),
                              ("shrinkage_euclidean", "codebook/embedding spread")):
            out.append(Claim(f"{name}: {label}, deferred vs baseline", "higher",
                             arms.values(metric, dataset=name, arm=d), arms.values(metric, dataset=name, arm=b)))
        out.append(Claim(f"{name}: reconstruction MSE, deferred vs baseline", "lower",
                         arms.values("recon_mse", dataset=name, arm=d), arms.values("recon_mse", dataset=name, arm=b)))
    ks = sorted({c.labels["K"] for c in sizes.cases})
    k_small, k_large = ks[0], ks[-1]
    for k, paper in ((k_small, "equal"), (k_large, "lower")):
        out.append(Claim(f"CIFAR-10 K={k}: reconstruction MSE, deferred vs baseline", paper,
                         sizes.values("recon_mse", K=k, arm=d), sizes.values("recon_mse", K=k, arm=b)))
    out.append(Claim(f"CIFAR-10: baseline perplexity at K={k_large} vs K={k_small}", "higher",
                     sizes.values("perplexity", K=k_large, arm=b), sizes.values("perplexity", K=k_small, arm=b)))
    out.append(Claim("CIFAR-10: embedding eff. rank, 64 vs 16 channels (baseline)", "higher",
                     capacity.values("embedding_effective_rank", knob="channels", value=64, arm=b),
                     capacity.values("embedding_effective_rank", knob="channels", value=16, arm=b)))
    return out



def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 02 draws, by figure (:mod:`vqlib.studies.registry`)."""
    return {"arms": arm_cases(dataset_specs(ctx)), "codebook size": codebook_size_cases(ctx),
            "capacity": capacity_cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 02's claims from its (cached) runs."""
    from .core import run_cases

    lists = case_lists(ctx)
    return claims(run_cases(lists["arms"], desc="arms"), run_cases(lists["codebook size"], desc="codebook size"),
                  run_cases(lists["capacity"], desc="capacity"))
