"""Notebook 02: collapse on real images (CIFAR-10 and ImageNet) - the spec list of every figure, what the
figures show of the runs, the tables and the claims (the numbers the prose states: :mod:`.facts`).

Figures: usage over training by initialization on both datasets, sorted code usage, codebook size and
encoder capacity on CIFAR-10, shrinkage over training, and reconstructions. The CIFAR-10 baseline and
deferred arms (the headline comparison) run ``Scale.image_seeds`` seeds; every other arm, the ImageNet
stand-in and every sweep point ``Scale.image_sweep_seeds``. The views (usage histograms, PCA, t-SNE,
reconstructions) show seed :data:`VIEW_SEED`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import paths
from ...data import Prepared, prepare
from ...experiments import ModelSpec, RunSpec
from ...images import DataSourceError
from .. import converged, settings, views
from ..arms import ARMS, BASELINE, DEFERRED, INITIALIZATION_ARMS
from ..claims import Claim
from ..context import Context
from ..core import Case, Runs, all_finished, arm_case
from ..settings import CIFAR10, IMAGENET

__all__ = ["Dataset", "USAGE_COLUMNS", "datasets", "dataset_specs", "arm_cases", "codebook_size_cases",
           "capacity_cases",
           "CAPACITY_KNOBS", "VIEW_SEED", "PCA_POINTS", "RECONSTRUCTED_IMAGES", "STAND_IN_MAX_IMAGES", "overview",
           "data_sources", "stand_in_note", "settings_line", "caption", "usage_table", "size_table",
           "capacity_table", "sorted_usages", "pca_views", "tsne_views", "reconstruction_rows", "arm_claims",
           "size_claims", "capacity_claims", "claims", "centred_claims",
           "case_lists", "study_claims"]

#: (knob, value, model change) of the CIFAR-10 capacity sweep
CAPACITY_KNOBS = (*(("channels", c, {"channels": c}) for c in (16, 32, 64)),
                  *(("res blocks", b, {"num_res_blocks": b}) for b in (0, 1, 2)))
#: the seed the views show (usage histograms, PCA, t-SNE, reconstructions)
VIEW_SEED = 0
#: token embeddings drawn in the PCA views of the shrinkage figure
PCA_POINTS = 3000
#: evaluation images per reconstruction row, by dataset
RECONSTRUCTED_IMAGES = {CIFAR10: 12, IMAGENET: 8}
#: an ImageNet root with at most this many images is the offline stand-in (one image per class), not ImageNet
STAND_IN_MAX_IMAGES = 1000
#: the name of each dataset in the facts (``{cifar.deferred.utilization}``) and in short captions
_SLUGS = {CIFAR10: "cifar", IMAGENET: "imagenet"}
_SHORT = {CIFAR10: "CIFAR"}
#: the final metrics of the arm study's table and facts
USAGE_COLUMNS = ("utilization", "perplexity", "dead_codes", "code_cosine_distance", "used_code_cosine_distance",
                 "shrinkage_euclidean", "recon_mse")
#: (metric, claim text, claim key, the paper's direction for deferred vs baseline) of the arm study, per dataset
_ARM_CLAIMS = (("utilization", "utilization", "utilization", "higher"),
               ("perplexity", "perplexity", "perplexity", "higher"),
               ("code_cosine_distance", "code spread (cos)", "code_spread", "higher"),
               ("used_code_cosine_distance", "spread of used codes (cos)", "used_spread", "higher"),
               ("shrinkage_euclidean", "codebook/embedding spread", "shrinkage", "higher"),
               ("recon_mse", "reconstruction MSE", "recon", "lower"))
#: the arms the prose names, by their name in the facts
_PAIR = (("baseline", BASELINE), ("deferred", DEFERRED))
_ROLES = (*_PAIR, ("normal", ARMS["early_normal"]), ("uniform", ARMS["early_uniform"]))
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


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


def _slug(name: str) -> str:
    return _SLUGS.get(name, name.lower().replace("-", ""))


def dataset_specs(ctx: Context) -> dict[str, Dataset]:
    """The datasets of the study, without loading them (``data`` is None): CIFAR-10 always, ImageNet when the
    context names its root."""
    s = ctx.scale
    found = {CIFAR10: Dataset(CIFAR10, settings.cifar_base(ctx), None, list(range(s.image_seeds)),
                              s.image_sweep_seeds)}
    if ctx.with_imagenet:
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


# ---- What the notebook prints: data sources, the stand-in's caveat, the scale's settings --------------------

def data_sources(available: dict[str, Dataset], missing: dict[str, str]) -> str:
    """Where each dataset was read from, its training and evaluation images, and why a dataset is missing."""
    lines = []
    for name, ds in available.items():
        lines.append(f"{name} source: {paths.relative_text(ds.data.source)}")
        if ds.data.crop is None:
            lines.append(f"  {ds.data.num_train} training images, {ds.data.num_eval} held-out evaluation images")
        else:
            lines.append(f"  {ds.data.num_train} training images (random {ds.data.crop}px crops), "
                         f"{ds.data.num_eval} evaluation images (centre crops)")
    lines += [f"{name} not available, its panels are skipped: {reason}" for name, reason in missing.items()]
    return "\n".join(lines)


def stand_in_note(available: dict[str, Dataset]) -> str:
    """The caveat of the offline ImageNet stand-in (empty for a real ImageNet root, or without ImageNet)."""
    imagenet = available.get(IMAGENET)
    if imagenet is None or imagenet.data.num_train > STAND_IN_MAX_IMAGES:
        return ""
    return (f"NOTE: the ImageNet stand-in has {imagenet.data.num_train:,} images (one per class) and trains and "
            "evaluates on the same images; its numbers show the mechanism, not ImageNet-scale results.")


def settings_line(ctx: Context) -> str:
    """The scale's steps, batch, headline seeds and the deferred arm's switch step T_c."""
    s = ctx.scale
    return (f"scale {s.name}: {s.image_steps} steps, batch {s.image_batch}, seeds {list(range(s.image_seeds))}, "
            f"T_c = {DEFERRED.t_c(s.image_steps)} steps")


def overview(ctx: Context, available: dict[str, Dataset], missing: dict[str, str]) -> str:
    """What the notebook prints first: :func:`data_sources`, :func:`stand_in_note`, :func:`settings_line`."""
    return "\n".join(t for t in (data_sources(available, missing), stand_in_note(available), settings_line(ctx)) if t)


#: figure -> (the datasets whose sources it names: None for all, what of the runs it shows)
_CAPTIONS = {
    "usage_over_training": (None, "seeds"),
    "usage_histograms": (None, "seed {view}"),
    "codebook_size": (CIFAR10, "seeds {sweep}"),
    "capacity": (CIFAR10, "seeds {sweep}"),
    "shrinkage": (None, "seed {view} in the PCA views"),
    "tsne": (CIFAR10, "seed {view}; {tsne} embeddings per map"),
    "reconstructions": (None, "evaluation images, seed {view}"),
}


def caption(figure: str, available: dict[str, Dataset], ctx: Context) -> str:
    """The provenance line of one of notebook 02's figures (``figure``: its name without ``02_``): the sources of
    the datasets it draws, then the seeds it shows."""
    if figure not in _CAPTIONS:
        raise ValueError(f"no caption for {figure!r}; notebook 02's figures are {list(_CAPTIONS)}")
    only, detail = _CAPTIONS[figure]
    names = list(available) if only is None else [only]
    if detail == "seeds":
        detail = "seeds: " + ", ".join(f"{_SHORT.get(n, n)} {ds.seeds}" for n, ds in available.items())
    detail = detail.format(view=VIEW_SEED, sweep=list(range(ctx.scale.image_sweep_seeds)), tsne=ctx.scale.tsne_points)
    return "; ".join([available[n].source for n in names] + [detail])


# ---- Tables below the figures -------------------------------------------------------------------------------

def usage_table(arms: Runs) -> pd.DataFrame:
    """Final metrics of the arm study, means over seeds, by dataset and arm (rounded to 3 decimals)."""
    return arms.table.groupby(["dataset", "arm_label"], sort=False)[list(USAGE_COLUMNS)].mean().round(3)


def _sweep_table(runs: Runs, by: list[str], columns: list[str]) -> pd.DataFrame:
    grouped = runs.table.groupby(by, sort=False)
    return grouped[columns].mean().assign(seeds=grouped.size()).round(4)


def size_table(sizes: Runs) -> pd.DataFrame:
    """The codebook-size sweep: means over seeds by K and arm, with the number of seeds (4 decimals)."""
    return _sweep_table(sizes, ["K", "arm_label"],
                        ["recon_mse", "perplexity", "utilization", "dead_codes", "code_cosine_distance"])


def capacity_table(capacity: Runs) -> pd.DataFrame:
    """The encoder-capacity sweep: means over seeds by knob, value and arm, with the number of seeds."""
    return _sweep_table(capacity, ["knob", "value", "arm_label"],
                        ["embedding_effective_rank", "embedding_euclidean_distance", "recon_mse", "utilization"])


# ---- What the views show of the runs (seed VIEW_SEED) ------------------------------------------------------

def sorted_usages(arms: Runs, available: dict[str, Dataset]) -> dict[str, dict[str, np.ndarray]]:
    """Sorted code usage p_k over each dataset's evaluation set ({dataset: {arm id: usage}}), for every
    initialization arm, seed :data:`VIEW_SEED`."""
    return {name: {a: views.sorted_usage(arms.one(dataset=name, arm=a, seed=VIEW_SEED), ds.data.eval)
                   for a in INITIALIZATION_ARMS} for name, ds in available.items()}


def pca_views(arms: Runs, available: dict[str, Dataset]) -> dict[str, views.CodebookView]:
    """The CIFAR-10 codebook over its embeddings in their principal plane, by arm id (baseline, deferred; seed
    :data:`VIEW_SEED`, :data:`PCA_POINTS` embeddings drawn)."""
    return {a.id: views.codebook_view(arms.one(dataset=CIFAR10, arm=a, seed=VIEW_SEED), available[CIFAR10].data.eval,
                                      max_points=PCA_POINTS) for a in (BASELINE, DEFERRED)}


def tsne_views(arms: Runs, available: dict[str, Dataset], ctx: Context) -> dict[str, views.CodebookView]:
    """The CIFAR-10 codebook and ``Scale.tsne_points`` embeddings in one t-SNE map, by arm id (baseline,
    deferred; seed :data:`VIEW_SEED`)."""
    return {a.id: views.tsne_view(arms.one(dataset=CIFAR10, arm=a, seed=VIEW_SEED), available[CIFAR10].data.eval,
                                  max_points=ctx.scale.tsne_points) for a in (BASELINE, DEFERRED)}


def reconstruction_rows(arms: Runs, available: dict[str, Dataset]) -> dict[str, torch.Tensor]:
    """For each dataset, its first :data:`RECONSTRUCTED_IMAGES` evaluation images over their reconstructions by
    the baseline and by deferral (seed :data:`VIEW_SEED`, clamped to [-1, 1]): one tensor of three rows."""
    out = {}
    for name, ds in available.items():
        originals = ds.data.eval[:RECONSTRUCTED_IMAGES[name]]
        rebuilt = [views.reconstructions(arms.one(dataset=name, arm=a, seed=VIEW_SEED), originals).clamp(-1, 1)
                   for a in (BASELINE, DEFERRED)]
        out[name] = torch.cat([originals, *rebuilt])
    return out


# ---- Claims, per section; the claims table is their concatenation ------------------------------------------

def _datasets_of(arms: Runs) -> list[str]:
    return list(dict.fromkeys(c.labels["dataset"] for c in arms.cases))


def arm_claims(arms: Runs) -> list[Claim]:
    """Deferred vs baseline on every dataset of the arm study: utilization, perplexity, code spread, spread of the
    used codes and codebook/embedding spread higher, reconstruction error lower (keys ``<dataset>_<what>``)."""
    return [Claim(f"{name}: {label}, deferred vs baseline", paper, arms.values(metric, dataset=name, arm=DEFERRED),
                  arms.values(metric, dataset=name, arm=BASELINE), key=f"{_slug(name)}_{key}",
                  finished=all_finished(arms.finished(metric, dataset=name, arm=DEFERRED),
                                        arms.finished(metric, dataset=name, arm=BASELINE)))
            for name in _datasets_of(arms) for metric, label, key, paper in _ARM_CLAIMS]


def centred_claims(arms: Runs) -> list[Claim]:
    """Deferred vs baseline on every dataset of the arm study: the code spread measured from the embeddings' mean
    instead of the origin (:func:`vqlib.studies.converged.centred_spreads`; the paper implies it), keys
    ``<dataset>_centred_spread``. It needs the runs' models and data, so it is apart from :func:`claims`. Measured
    at the end of training only, it has finished where the raw code spread over training has."""
    return [Claim(f"{name}: code spread (cos, centred on the embeddings' mean), deferred vs baseline", "higher",
                  converged.centred_spreads(arms.select(dataset=name, arm=DEFERRED)),
                  converged.centred_spreads(arms.select(dataset=name, arm=BASELINE)), stated=False,
                  key=f"{_slug(name)}_centred_spread",
                  finished=all_finished(arms.finished("code_cosine_distance", dataset=name, arm=DEFERRED),
                                        arms.finished("code_cosine_distance", dataset=name, arm=BASELINE)))
            for name in _datasets_of(arms)]


def size_claims(sizes: Runs) -> list[Claim]:
    """The codebook-size sweep: equal errors at the smallest K, deferral's lower at the largest, and where the
    baseline's perplexity flattens: the paper has it growing with K until about 2^13, so still higher at the
    largest K here than at the one before it (keys ``small_k_recon``, ``large_k_recon``,
    ``baseline_perplexity``). Its growth from the smallest K, which any codebook shows, tests nothing."""
    b, d = BASELINE.id, DEFERRED.id
    ks = sorted({c.labels["K"] for c in sizes.cases})
    k_small, k_large = ks[0], ks[-1]
    out = [Claim(f"CIFAR-10 K={k}: reconstruction MSE, deferred vs baseline", paper,
                 sizes.values("recon_mse", K=k, arm=d), sizes.values("recon_mse", K=k, arm=b), key=key)
           for k, paper, key in ((k_small, "equal", "small_k_recon"), (k_large, "lower", "large_k_recon"))]
    k_before = ks[-2] if len(ks) > 1 else k_small
    out.append(Claim(f"CIFAR-10: baseline perplexity at K={k_large} vs K={k_before} (still growing below 2^13)",
                     "higher", sizes.values("perplexity", K=k_large, arm=b), sizes.values("perplexity", K=k_before,
                                                                                              arm=b),
                     key="baseline_perplexity"))
    return out


def capacity_claims(capacity: Runs) -> list[Claim]:
    """The capacity sweep: the baseline's embedding effective rank higher at 64 than at 16 channels (key
    ``capacity_rank``)."""
    b = BASELINE.id
    return [Claim("CIFAR-10: embedding eff. rank, 64 vs 16 channels (baseline)", "higher",
                  capacity.values("embedding_effective_rank", knob="channels", value=64, arm=b),
                  capacity.values("embedding_effective_rank", knob="channels", value=16, arm=b),
                  key="capacity_rank")]


def claims(arms: Runs, sizes: Runs, capacity: Runs) -> list[Claim]:
    """The paper's claims that notebook 02 can test, each on the runs of its figure (the claims table's rows, in
    order: :func:`arm_claims`, :func:`size_claims`, :func:`capacity_claims`)."""
    return arm_claims(arms) + size_claims(sizes) + capacity_claims(capacity)


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 02 draws, by figure (:mod:`vqlib.studies.registry`)."""
    return {"arms": arm_cases(dataset_specs(ctx)), "codebook size": codebook_size_cases(ctx),
            "capacity": capacity_cases(ctx), "converged": converged.cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 02's claims from its (cached) runs."""
    from ..core import run_cases

    lists = {name: run_cases(cases, desc=name) for name, cases in case_lists(ctx).items()}
    return (converged.claims(lists["converged"]) + claims(lists["arms"], lists["codebook size"], lists["capacity"])
            + centred_claims(lists["arms"]))
