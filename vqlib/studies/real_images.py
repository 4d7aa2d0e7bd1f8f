"""Notebook 02: collapse on real images (CIFAR-10 and ImageNet) - the spec list of every figure, what the
figures show of the runs, the tables, the claims and the numbers the notebook's prose states.

Figures: usage over training by initialization on both datasets, sorted code usage, codebook size and
encoder capacity on CIFAR-10, shrinkage over training, and reconstructions. The CIFAR-10 baseline and
deferred arms (the headline comparison) run ``Scale.image_seeds`` seeds; every other arm, the ImageNet
stand-in and every sweep point ``Scale.image_sweep_seeds``. The views (usage histograms, PCA, t-SNE,
reconstructions) show seed :data:`VIEW_SEED`.

Every ``*_facts`` function returns the numbers one section's prose states (:func:`vqlib.studies.prose.say`),
for every dataset of the study: a dataset that is not available here (ImageNet without a root) gives NaN
values and "n/a" verdicts, so the prose renders without it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .. import paths
from ..data import Prepared, prepare
from ..experiments import ModelSpec, RunSpec
from ..images import DataSourceError
from . import converged, settings, views
from .arms import ARMS, BASELINE, DEFERRED, INITIALIZATION_ARMS
from .claims import EQUAL_TOLERANCE, Claim
from .claims import verdict as claim_row
from .context import Context
from .core import Case, Runs, all_finished, arm_case
from .prose import Facts, claim_facts, facts, join
from .settings import CIFAR10, IMAGENET

__all__ = ["Dataset", "datasets", "dataset_specs", "arm_cases", "codebook_size_cases", "capacity_cases",
           "CAPACITY_KNOBS", "VIEW_SEED", "PCA_POINTS", "RECONSTRUCTED_IMAGES", "STAND_IN_MAX_IMAGES", "overview",
           "data_sources", "stand_in_note", "settings_line", "caption", "usage_table", "size_table", "capacity_table",
           "sorted_usages", "pca_views", "tsne_views", "reconstruction_rows", "arm_claims", "size_claims",
           "capacity_claims", "claims", "usage_facts", "histogram_facts", "size_facts", "capacity_facts",
           "tsne_facts", "shrinkage_facts", "verdict_facts", "case_lists", "study_claims"]

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


# ---- The numbers the prose states ---------------------------------------------------------------------------

def _word(n: int) -> str:
    """A small count as a word ("five"), a larger one as digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def _seeds(n: int, what: str = "") -> str:
    """"five CIFAR-10 seeds", "one seed"."""
    return " ".join(w for w in (_word(n), what, "seed" if n == 1 else "seeds") if w)


def _in_seeds(k: int, n: int) -> str:
    """In how many of n seeds something holds: "in each of the three seeds", "in two of three seeds", "in its only
    seed" ("n/a" without seeds)."""
    if n <= 1:
        return "n/a" if n == 0 else "in its only seed" if k else "not in its only seed"
    if k in (0, n):
        return f"in {'none' if k == 0 else 'each'} of the {_word(n)} seeds"
    return f"in {_word(k)} of {_word(n)} seeds"


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _at(series, i: int) -> float:
    """The ``i``-th value of a curve (NaN where it has none)."""
    return float(series.iloc[i]) if -len(series) <= i < len(series) else math.nan


_MISSING_CLAIM = {"verdict": "n/a", "Verdict": "n/a", "effect": math.nan, "low": math.nan, "high": math.nan,
                  "first": math.nan, "second": math.nan, "n": "n/a", "expected": "n/a", "text": "n/a", "kind": "",
                  "interval": "n/a", "finished": "n/a"}


def _claim_rows(found: list[Claim]) -> Facts:
    """:func:`vqlib.studies.prose.claim_facts` with ``Verdict`` (capitalized, to start a sentence), and an "n/a"
    row for every arm claim of a dataset not available here."""
    out = {key: {**row, "Verdict": row["verdict"].capitalize()} for key, row in claim_facts(found).items()}
    expected = [f"{_slug(name)}_{key}" for name in (CIFAR10, IMAGENET) for _, _, key, _ in _ARM_CLAIMS]
    return facts({key: dict(_MISSING_CLAIM) for key in expected} | out)


def _verdict_across(rows: Facts, key: str, names: list[str]) -> str:
    """One verdict for a claim made on several datasets: the shared word, else each dataset's."""
    found = {name: rows[f"{_slug(name)}_{key}"].verdict for name in names}
    if len(set(found.values())) == 1:
        return next(iter(found.values()))
    return ", ".join(f"{v} on {name}" for name, v in found.items())


def _verdict_sentence(topics: dict[str, str]) -> str:
    """"**Agrees** on usage and perplexity; **disagrees** on ...": topics grouped by their verdict, in order."""
    groups: dict[str, list[str]] = {}
    for topic, verdict in topics.items():
        groups.setdefault(verdict, []).append(topic)
    text = "; ".join(f"**{verdict}** on {join(names)}" for verdict, names in groups.items())
    return text[:2] + text[2:3].upper() + text[3:]


def _present(arms: Runs) -> list[str]:
    return [name for name in (CIFAR10, IMAGENET) if name in _datasets_of(arms)]


def _arm_numbers(arms: Runs, name: str, arm, num_codes: int) -> dict:
    """Final means over seeds of one arm on one dataset, the per-seed values and the curve's landmarks."""
    runs = arms.select(dataset=name, arm=arm)
    out = {m: _mean(runs.values(m)) for m in USAGE_COLUMNS}
    out.update(n=len(runs), seed_utilization=sorted(runs.values("utilization")) or [math.nan],
               used_codes=out["utilization"] * num_codes,
               view_recon_mse=_mean(runs.select(seed=VIEW_SEED).values("recon_mse")))
    # the first evaluation (step 0 for early arms, T_c for deferral), the next one, the one before the end
    curve = arms.mean_curve("utilization", dataset=name, arm=arm)
    steps = pd.Series(curve.index, dtype=float)
    out.update(start=_at(curve, 0), next=_at(curve, 1), next_steps=int(np.nan_to_num(_at(steps, 1) - _at(steps, 0))),
               before_end=_at(curve, -2))
    out["drop"] = out["start"] - out["next"]
    return out


def usage_facts(arms: Runs, ctx: Context) -> Facts:
    """Section 1 (usage over training), also quoted by the reconstructions and the settings: for each dataset
    (``cifar``, ``imagenet``) and arm (``baseline``, ``deferred``, ``normal``, ``uniform``) the final means of
    :data:`USAGE_COLUMNS`, ``used_codes``, ``seed_utilization`` (sorted), the utilization curve's landmarks
    (``start``: the first evaluation - step 0, or the switch for deferral; ``next``: the one after, ``next_steps``
    later; ``drop``: from start to next), ``view_recon_mse`` (seed :data:`VIEW_SEED`); per dataset ``seeds`` in
    words and ``used_more`` (in how many seeds the baseline's used codes are the more spread); ``normal_codes``,
    ``baseline_trend`` ("still climbing" over the last evaluation on every dataset), the keyed claims and
    ``verdicts`` (the verdict sentence)."""
    model = arms.results[0].spec.model
    rows, present = _claim_rows(arm_claims(arms)), _present(arms)
    out = {"K": model.num_codes, "d": model.latent_dim, "steps": ctx.scale.image_steps, "scale": ctx.name}
    for name in (CIFAR10, IMAGENET):
        per = {key: _arm_numbers(arms, name, a, model.num_codes) for key, a in _ROLES}
        b, d = (arms.values("used_code_cosine_distance", dataset=name, arm=a) for a in (BASELINE, DEFERRED))
        per.update(n=len(b), seeds=_seeds(len(b), name), used_more=_in_seeds(sum(x > y for x, y in zip(b, d)), len(b)),
                   climbing=per["baseline"]["utilization"] > per["baseline"]["before_end"])
        out[_slug(name)] = per
    out["normal_codes"] = _codes([round(out[_slug(n)]["normal"]["used_codes"]) for n in present])
    out["baseline_trend"] = ("still climbing" if all(out[_slug(n)]["climbing"] for n in present)
                             else "no longer climbing everywhere")
    out["verdicts"] = _verdict_sentence({topic: _verdict_across(rows, key, present) for topic, key in (
        ("usage", "utilization"), ("perplexity", "perplexity"), ("the spread of the codebook", "code_spread"),
        ("the similarity of the used codes", "used_spread"))})
    return facts(out, claims=rows)


def _codes(counts) -> str:
    """"one code", "24–37 codes"."""
    if not counts:
        return "n/a"
    low, high = min(counts), max(counts)
    return f"{low}–{high} codes" if low != high else "one code" if low == 1 else f"{low} codes"


def histogram_facts(usages: dict[str, dict[str, np.ndarray]]) -> Facts:
    """Section 2 (sorted usage, seed :data:`VIEW_SEED`), over the datasets shown: per arm (``baseline``,
    ``deferred``, ``normal``, ``uniform``) ``used`` (codes with p_k > 0, one per dataset), ``codes`` (the same
    in words: "one code", "24–37 codes") and ``top`` (the most used code's share of all tokens); ``K``."""
    out = {}
    for key, a in _ROLES:
        per = [u[a.id] for u in usages.values()]
        used = [int((p > 0).sum()) for p in per]
        out[key] = {"used": used, "codes": _codes(used), "top": [float(p.max()) for p in per]}
    return facts(out, K=len(next(iter(usages.values()))[BASELINE.id]))


def size_facts(sizes: Runs, available: dict[str, Dataset]) -> Facts:
    """Section 3 (codebook size): ``k_small``, ``k_large``, ``k_growth`` (their ratio), per arm the means by K
    (``perplexity``, ``recon_mse``, ``utilization`` in K order; ``small``/``large``: at the ends) and
    ``perplexity_growth`` (largest over smallest K); words: ``keeps_growing`` (deferral's perplexity rises at every
    K), ``keeps_falling`` (its error falls at every K), ``lower_small`` (in how many seeds deferral's error is the
    lower at the smallest K); ``behind_from``: the smallest K from which the baseline's error is the higher at every
    K; ``plateau``: where the baseline's perplexity stops growing (by less than the 5 % band up to the largest K;
    ``text``) and its perplexities up to there (``before``); the keyed claims; ``seeds`` in words, ``steps`` and
    ``train_images`` (CIFAR-10's, from ``available``)."""
    ks = sorted({c.labels["K"] for c in sizes.cases})
    out = {"k_small": ks[0], "k_large": ks[-1], "k_growth": ks[-1] / ks[0]}
    for key, arm in _PAIR:
        per = {m: [_mean(sizes.values(m, K=k, arm=arm)) for k in ks]
               for m in ("perplexity", "utilization", "recon_mse")}
        out[key] = {**per, "small": {m: v[0] for m, v in per.items()}, "large": {m: v[-1] for m, v in per.items()},
                    "perplexity_growth": per["perplexity"][-1] / per["perplexity"][0]}
    b, d = out["baseline"], out["deferred"]
    rising = all(y > x for x, y in zip(d["perplexity"], d["perplexity"][1:]))
    falling = all(y < x for x, y in zip(d["recon_mse"], d["recon_mse"][1:]))
    lower = [x < y for x, y in zip(*(sizes.values("recon_mse", K=ks[0], arm=a) for a in (DEFERRED, BASELINE)))]
    behind = [x < y for x, y in zip(d["recon_mse"], b["recon_mse"])]
    grows = [y > x * (1 + EQUAL_TOLERANCE) for x, y in zip(b["perplexity"], b["perplexity"][1:])] + [False]
    stop = next(i for i in range(len(ks)) if not any(grows[i:]))
    last = f"{b['perplexity'][-1]:.0f}"
    out["plateau"] = {"before": b["perplexity"][:stop + 1],
                      "text": f"stops growing after K = {ks[stop]:,} ({last} at {ks[-1]:,})" if stop < len(ks) - 1
                      else f"is still growing at K = {ks[-1]:,} ({last})"}
    out.update(keeps_growing="keeps growing" if rising else "does not keep growing",
               keeps_falling="keeps falling" if falling else "does not keep falling",
               lower_small=_in_seeds(sum(lower), len(lower)),
               behind_from=next((k for i, k in enumerate(ks) if all(behind[i:])), math.nan),
               seeds=_seeds(len(lower)), steps=sizes.results[0].spec.train.steps,
               train_images=available[CIFAR10].data.num_train)
    return facts(out, claims=_claim_rows(size_claims(sizes)))


def capacity_facts(capacity: Runs) -> Facts:
    """Section 4 (encoder capacity): for each knob (``channels``, ``blocks``) its ``points`` (``first``, ``last``)
    and per arm the means over seeds at each point (``rank``: embedding effective rank, ``recon_mse``,
    ``utilization``; ``ends``: the first and last of each); words: ``raise``/``lower`` say whether the baseline's
    rank rises and its error falls from the first to the last point (beyond the 5 % band); per arm ``utilization``
    at every capacity point; the keyed claim; ``seeds`` in words."""
    out: dict = {}
    for knob, key in (("channels", "channels"), ("res blocks", "blocks")):
        points = [v for k, v, _ in CAPACITY_KNOBS if k == knob]
        per = {"points": points, "first": points[0], "last": points[-1]}
        for arm_key, arm in _PAIR:
            means = {name: [_mean(capacity.values(m, knob=knob, value=v, arm=arm)) for v in points]
                     for name, m in (("rank", "embedding_effective_rank"), ("recon_mse", "recon_mse"),
                                     ("utilization", "utilization"))}
            per[arm_key] = {**means, "ends": {m: [v[0], v[-1]] for m, v in means.items()}}
        rank, error = per["baseline"]["rank"], per["baseline"]["recon_mse"]
        per["raise"] = "raise" if rank[-1] > rank[0] * (1 + EQUAL_TOLERANCE) else "do not raise"
        per["lower"] = "lower" if error[-1] < error[0] * (1 - EQUAL_TOLERANCE) else "do not lower"
        out[key] = per
    for arm_key, arm in _PAIR:
        out[arm_key] = {"utilization": capacity.select(arm=arm).table.groupby(["knob", "value"])["utilization"]
                        .mean().tolist()}
    n = len(capacity.values("utilization", knob="channels", value=CAPACITY_KNOBS[0][1], arm=BASELINE))
    return facts(out, seeds=_seeds(n), claims=_claim_rows(capacity_claims(capacity)))


def _view_counts(maps: dict[str, views.CodebookView]) -> dict:
    return {key: {"used": maps[a.id].num_used, "dead": int((~np.asarray(maps[a.id].used, bool)).sum())}
            for key, a in _PAIR}


def tsne_facts(maps: dict[str, views.CodebookView]) -> Facts:
    """The t-SNE maps (seed :data:`VIEW_SEED`): ``used`` and ``dead`` codes of the ``baseline`` and ``deferred``."""
    return facts(_view_counts(maps))


def shrinkage_facts(arms: Runs, pca: dict[str, views.CodebookView]) -> Facts:
    """Section 5 (shrinkage): per dataset (``cifar``, ``imagenet``) the baseline's codebook/embedding spread at its
    first evaluation after step 0 (``baseline.first``, ``first_steps`` later) and at the end (``baseline.final``),
    deferral's at the end (``deferred.final``), ``rank_higher`` (whose effective-rank ratio is the higher at the
    end: "the baseline's" or "deferral's") and ``seeds`` in words; ``rank_range``: (min, max) of the effective-rank
    ratio's mean curves of both arms on every dataset; ``pca``: used and dead codes of the PCA views (seed
    :data:`VIEW_SEED`); ``Verdict``: the spread claims' verdict, capitalized."""
    out: dict = {"pca": _view_counts(pca)}
    ranks = []
    for name in (CIFAR10, IMAGENET):
        base, deferred = (arms.mean_curve("shrinkage_euclidean", dataset=name, arm=a) for a in (BASELINE, DEFERRED))
        rank = [arms.mean_curve("shrinkage_rank", dataset=name, arm=a) for a in (BASELINE, DEFERRED)]
        ranks += [v for curve in rank for v in curve.tolist()]
        ends = [_at(curve, -1) for curve in rank]
        n = len(arms.select(dataset=name, arm=BASELINE))
        out[_slug(name)] = {
            "baseline": {"first": _at(base, 1), "final": _at(base, -1)}, "deferred": {"final": _at(deferred, -1)},
            "first_steps": int(base.index[1] - base.index[0]) if len(base) > 1 else 0, "seeds": _seeds(n, name),
            "rank_higher": "n/a" if math.isnan(sum(ends)) else "the baseline's" if ends[0] > ends[1] else "deferral's"}
    out["rank_range"] = [min(ranks), max(ranks)] if ranks else [math.nan, math.nan]
    verdict = _verdict_across(_claim_rows(arm_claims(arms)), "shrinkage", _present(arms))
    return facts(out, Verdict=verdict[:1].upper() + verdict[1:])


def _less_more(effect: float, less: str, more: str) -> str:
    return "n/a" if math.isnan(effect) else less if effect < 1 else more


def verdict_facts(arms: Runs, sizes: Runs, capacity: Runs) -> Facts:
    """The claims table in words: ``tally`` ("13 of 16 rows agree and 3 disagree"), ``not_agreeing`` (those rows'
    claims with their verdict and effect, or "none"), the keyed claims (a missing dataset's: "n/a"), the values per
    side of the CIFAR-10 arm rows (``headline_n``) and of the sweeps' rows (``sweep_n``), the smallest K, and words
    on the two rows the prose discusses: ``used_spread`` ("less" or "more": deferral's used codes against the
    baseline's, on CIFAR-10) and ``small_k_error`` ("lower" or "higher": deferral's error at the smallest K)."""
    found = claims(arms, sizes, capacity)
    table, by_key, rows = [claim_row(c) for c in found], {c.key: c for c in found}, _claim_rows(found)
    counts = {v: sum(r["verdict"] == v for r in table) for v in ("agrees", "disagrees", "inconclusive")}
    tally = [f"{counts['agrees']} of {len(table)} rows agree", f"{counts['disagrees']} disagree",
             f"{counts['inconclusive']} {'is' if counts['inconclusive'] == 1 else 'are'} inconclusive"]
    others = [f"{r['claim']} ({r['verdict']}, {r['effect']} {r['effect size']:.2f})" for r in table
              if r["verdict"] != "agrees"]
    return facts(tally=join([tally[0]] + [t for t, v in zip(tally[1:], ("disagrees", "inconclusive")) if counts[v]]),
                 not_agreeing="; ".join(others) or "none", claims=rows,
                 headline_n=len(by_key["cifar_utilization"].first), sweep_n=len(by_key["small_k_recon"].first),
                 k_small=min(c.labels["K"] for c in sizes.cases),
                 used_spread=_less_more(rows.cifar_used_spread.effect, "less", "more"),
                 small_k_error=_less_more(rows.small_k_recon.effect, "lower", "higher"))


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 02 draws, by figure (:mod:`vqlib.studies.registry`)."""
    return {"arms": arm_cases(dataset_specs(ctx)), "codebook size": codebook_size_cases(ctx),
            "capacity": capacity_cases(ctx), "converged": converged.cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 02's claims from its (cached) runs."""
    from .core import run_cases

    lists = {name: run_cases(cases, desc=name) for name, cases in case_lists(ctx).items()}
    return converged.claims(lists["converged"]) + claims(lists["arms"], lists["codebook size"], lists["capacity"])
