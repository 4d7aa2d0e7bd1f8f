"""Notebook 04: generative diversity of token-based generators - the tokenizers, the feature network, the
generation pipeline (tokenize -> train a prior -> sample -> decode -> measure), the claims, and what the
notebook shows: its tables and the numbers its prose states (the ``*_facts`` functions).

The tokenizers are notebook 03's CIFAR-10 runs (early quantization and deferral at several T_c), taken from
:func:`vqlib.studies.fixes.run_spec` so they come from the cache. Each tokenizer and seed gets one prior;
its samples are measured on tokens, pixels and the features of a small CIFAR-10 classifier. The whole
pipeline's result (the measures and the samples shown) is cached per tokenizer, prior, sampler and
classifier, so a second run draws the figures without tokenizing, training or sampling again.

The results table names an image measure on an image set with :func:`column` (the prior's samples, the
reconstructions of held-out images, the unigram samples): the pipeline writes its columns with it and the tables,
facts and figures (:mod:`vqlib.plotting.generation`) read them with it. Rows are picked by arm and seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch

from .. import cache as store
from .. import diversity, executors, paths
from ..data import Prepared, prepare
from ..experiments import RunResult, run, run_many
from ..features import SmallCNN, accuracy, cached_classifier, classifier_payload, extract_features
from ..generate import PriorSpec, cached_prior, prior_loss, sample, tokenize
from .arms import ARMS, BASELINE, DEFERRED, Arm, arm
from .claims import Claim, claims_table
from .context import Context
from .core import Case, all_finished
from .fixes import run_spec
from .prose import Facts, claim_facts, facts, join
from .settings import CIFAR10

__all__ = ["TOKENIZER_ARMS", "BASELINE", "DEFERRED_ARMS", "GRID_SAMPLES", "PIXEL", "FRECHET", "VENDI", "RECALL",
           "SAMPLES", "RECONSTRUCTIONS", "UNIGRAM", "CONTROL_CLAIMS", "control_claims", "tokenizers_finished",
           "realized", "IMAGE_SETS", "CONTROL_MEASURES", "PRIOR_NLL", "UNIGRAM_NLL",
           "column", "prior_spec", "FeatureNet", "feature_net", "Generation", "generate", "results", "reference",
           "claims", "Study", "study", "setting", "source", "write_results", "means_table", "controls_long",
           "nll_by_tc", "controls_table", "feature_facts", "results_facts", "controls_facts", "quality_facts",
           "intervals_facts", "CLAIMS"]

#: the tokenizers compared: early quantization (the baseline) and deferral at T_c = 10 %, 33 %, 50 %
TOKENIZER_ARMS: tuple[Arm, ...] = (BASELINE, ARMS["deferred_10"], DEFERRED, ARMS["deferred_50"])
#: the deferred tokenizers (their ids: the ``arm`` column of the results table)
DEFERRED_ARMS: tuple[str, ...] = tuple(a.id for a in TOKENIZER_ARMS if a.family == "deferred")
#: samples per tokenizer kept for the figure of samples
GRID_SAMPLES = 32
#: the generator's own seed for sampling (the prior's weights take the tokenizer's seed)
SAMPLE_SEED = 0
#: what the pipeline measures, in its cache payload: bump when :func:`generate` computes other measures or
#: controls (2: controls, held-out NLL, RBF Vendi; distinct-map fraction dropped), so no stale row is served
PIPELINE_VERSION = 2

# The image measures (columns of the results table) and the image sets they are taken on. One definition: the
# pipeline names its columns with :func:`column`, and the tables and figures find them with it.
PIXEL, FRECHET, VENDI, RECALL = "pixel distance", "Frechet distance (small CNN)", "Vendi score (RBF)", "recall"
#: the prior's samples and the two controls through the same tokenizer
SAMPLES, RECONSTRUCTIONS, UNIGRAM = "prior samples", "reconstructions of held-out images", "unigram samples"
#: each image set's suffix of the measure's column name
IMAGE_SETS = {SAMPLES: "", RECONSTRUCTIONS: " · reconstructions", UNIGRAM: " · unigram"}
#: the image measures the controls compare
CONTROL_MEASURES = (PIXEL, VENDI, RECALL, FRECHET)
#: each prior's and the unigram model's negative log-likelihood of the held-out images' token maps
PRIOR_NLL, UNIGRAM_NLL = "prior held-out NLL (nats/token)", "unigram held-out NLL (nats/token)"


def column(measure: str, image_set: str = SAMPLES) -> str:
    """The results column of an image ``measure`` taken on ``image_set`` (one of IMAGE_SETS)."""
    if image_set not in IMAGE_SETS:
        raise ValueError(f"unknown image set {image_set!r}; choose one of {list(IMAGE_SETS)}")
    return measure + IMAGE_SETS[image_set]


def prior_spec(ctx: Context) -> PriorSpec:
    """The token prior at a scale: a small causal transformer, 4 heads, batch 64, four history rows."""
    s = ctx.scale
    return PriorSpec(steps=s.prior_steps, batch_size=64, dim=s.prior_dim, depth=s.prior_depth, heads=4,
                     eval_every=max(1, s.prior_steps // 4))


@dataclass
class FeatureNet:
    """The small CIFAR-10 classifier used as a feature extractor, and the held-out images' features."""

    model: SmallCNN
    key: str  # its cache key (names it in the generation cache)
    steps: int
    real: torch.Tensor  # held-out images
    real_features: torch.Tensor
    accuracy: float  # on the held-out images

    @cached_property  # measured three times per tokenizer: compute the 500 x 500 distances once
    def bandwidth(self) -> float:
        """The RBF Vendi kernel's bandwidth: the median distance between the held-out images' standardized
        features (every set's features are standardized by the held-out images' mean and spread)."""
        return diversity.median_distance(diversity.standardize(self.real_features, self.real_features))

    def measures(self, images: torch.Tensor) -> dict[str, float]:
        """Diversity and closeness to the held-out images of a set of images in [-1, 1]."""
        feats = extract_features(self.model, images)
        pr = diversity.precision_recall(self.real_features, feats, k=3)
        return {PIXEL: diversity.mean_pairwise_pixel_distance(images),
                FRECHET: diversity.frechet_distance(self.real_features, feats),
                "precision": pr["precision"], RECALL: pr["recall"],
                VENDI: diversity.vendi_score(diversity.standardize(feats, self.real_features),
                                             kernel="rbf", bandwidth=self.bandwidth)}


def feature_net(ctx: Context) -> FeatureNet:
    """Train (or load) the feature classifier on the CIFAR-10 training images of the tokenizers."""
    s = ctx.scale
    data = _data(ctx)
    payload = classifier_payload(data.train, data.train_labels, s.classifier_steps, 0)
    model, _, _ = cached_classifier(data.train, data.train_labels, steps=s.classifier_steps, seed=0)
    return FeatureNet(model, store.entry_key("classifier", payload), s.classifier_steps, data.eval,
                      extract_features(model, data.eval), accuracy(model, data.eval, data.eval_labels))


def _data(ctx: Context) -> Prepared:
    return prepare(run_spec(CIFAR10, BASELINE, 0, ctx).data)


@dataclass
class Generation:
    """One tokenizer's prior and its samples: the measures (one results row) and the first samples."""

    row: dict
    grid: torch.Tensor  # [GRID_SAMPLES, 3, H, W] decoded samples in [-1, 1]
    cached: bool


def _payload(tokenizer: RunResult, features: FeatureNet, ctx: Context, temperature: float,
             top_k: int | None) -> dict:
    return {"tokenizer": tokenizer.key, "prior": store.spec_payload(prior_spec(ctx)),
            "prior_seed": tokenizer.spec.seed, "samples": ctx.scale.generated_samples,
            "temperature": float(temperature), "top_k": top_k,
            "sample_seed": SAMPLE_SEED, "classifier": features.key, "grid": GRID_SAMPLES,
            "pipeline": PIPELINE_VERSION}


def generate(tokenizer: RunResult, which: Arm | str, features: FeatureNet, ctx: Context, temperature: float = 1.0,
             top_k: int | None = None) -> Generation:
    """The whole pipeline for one tokenizer (of the arm ``which``: an :class:`Arm` or its id), cached: tokenize
    the training and held-out images, train a prior on the training tokens (seed: the tokenizer's), sample
    ``generated_samples`` token maps, decode them, and measure tokens, pixels and features against the held-out
    images."""
    s = ctx.scale
    spec = prior_spec(ctx)
    payload = _payload(tokenizer, features, ctx, temperature, top_k)

    def compute() -> dict:
        data = prepare(tokenizer.spec.data)
        model = tokenizer.model()
        num_codes = model.quantizer.num_codes
        train_tokens, real_tokens = tokenize(model, data.train), tokenize(model, data.eval)
        prior, history, _ = cached_prior(tokenizer.key, train_tokens, num_codes, spec, seed=tokenizer.spec.seed)
        grid = tuple(train_tokens.shape[1:])
        tokens = sample(prior, s.generated_samples, grid=grid, temperature=temperature, top_k=top_k,
                        seed=SAMPLE_SEED)
        generated = model.decode_indices(tokens).clamp(-1, 1)
        # Controls. The ceiling: the tokenizer's own reconstructions of held-out images (what any prior could at
        # best reach through it). The floor: token maps drawn position by position from the training tokens'
        # unigram distribution (add-one smoothed), decoded by the same tokenizer - a prior that learned nothing
        # beyond code frequencies.
        real = features.real[:s.generated_samples]
        reconstructed = model.decode_indices(tokenize(model, real)).clamp(-1, 1)
        unigram = torch.bincount(train_tokens.flatten(), minlength=num_codes).double() + 1.0
        unigram /= unigram.sum()
        draws = torch.multinomial(unigram, s.generated_samples * grid[0] * grid[1], replacement=True,
                                  generator=torch.Generator().manual_seed(SAMPLE_SEED))
        unigram_images = model.decode_indices(draws.view(-1, *grid)).clamp(-1, 1)
        token_stats = diversity.token_diversity(tokens, num_codes)
        real_token_stats = diversity.token_diversity(real_tokens, num_codes)
        row = {
            "tokenizer recon MSE": tokenizer.final["recon_mse"],
            "tokenizer perplexity": tokenizer.final["perplexity"],
            "prior final loss (nats/token)": float(history["train_loss"].iloc[-1]),
            PRIOR_NLL: prior_loss(prior, real_tokens),
            UNIGRAM_NLL: float(-unigram.log()[real_tokens.flatten()].mean()),
            "token entropy": token_stats["token_entropy"], "real token entropy": real_token_stats["token_entropy"],
            "distinct codes / sample": token_stats["distinct_codes_per_sample"],
            "real distinct codes / sample": real_token_stats["distinct_codes_per_sample"],
            **{column(k, SAMPLES): v for k, v in features.measures(generated).items()},
            **{column(k, RECONSTRUCTIONS): v for k, v in features.measures(reconstructed).items()},
            **{column(k, UNIGRAM): v for k, v in features.measures(unigram_images).items()},
        }
        return {"row": row, "grid": generated[:GRID_SAMPLES].clone()}

    stored, hit = store.cached("generation", payload, compute)
    a = which if isinstance(which, Arm) else arm(which)
    row = {"tokenizer": a.label, "arm": a.id, "T_c %": a.t_c_percent, "seed": tokenizer.spec.seed,
           **stored["row"]}
    return Generation(row, stored["grid"], hit)


def results(features: FeatureNet, ctx: Context, temperature: float = 1.0, top_k: int | None = None,
            executor=None) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Every tokenizer of TOKENIZER_ARMS and ``Scale.image_sweep_seeds`` seeds through :func:`generate`: the
    results table (figures/04_results.csv) and, per tokenizer label, the samples of its first seed.

    Tokenizers and pipelines not in the cache are computed on ``executor`` (as in
    :func:`vqlib.experiments.run_many`; by default one process per core)."""
    s = ctx.scale
    jobs = [(a, seed) for a in TOKENIZER_ARMS for seed in range(s.image_sweep_seeds)]
    tokenizers = run_many([run_spec(CIFAR10, a, seed, ctx) for a, seed in jobs], desc="tokenizers",
                          executor=executor)
    # a worker gets the arm's id (an Arm holds its spec function, which does not pickle)
    todo = [(t.spec, a.id, ctx, temperature, top_k) for (a, _), t in zip(jobs, tokenizers)
            if not store.has("generation", _payload(t, features, ctx, temperature, top_k))]
    if len(todo) > 1 or (todo and executor is not None):
        pool = executor or executors.default_executor()
        if pool is not None:
            try:
                executors.submit_all(pool, _generate_job, todo, desc=f"priors and samples ({len(todo)} to compute)",
                                     describe=lambda job: f"the {job[1]} tokenizer, seed {job[0].seed}")
            finally:
                if executor is None:
                    pool.shutdown(cancel_futures=True)
    rows, grids = [], {}
    for (a, seed), tokenizer in zip(jobs, tokenizers):
        generation = generate(tokenizer, a, features, ctx, temperature, top_k)
        rows.append(generation.row)
        if seed == 0:
            grids[a.label] = generation.grid
    return pd.DataFrame(rows), grids


def _generate_job(job) -> None:
    """What a worker does for :func:`results`: one tokenizer's pipeline into the cache."""
    spec, arm_id, ctx, temperature, top_k = job
    generate(run(spec), arm_id, feature_net(ctx), ctx, temperature, top_k)


def reference(features: FeatureNet, ctx: Context) -> dict[str, float]:
    """The same diversity measures on as many real held-out images as there are samples per prior."""
    n = ctx.scale.generated_samples
    return {PIXEL: diversity.mean_pairwise_pixel_distance(features.real[:n]),
            VENDI: diversity.vendi_score(
                diversity.standardize(features.real_features[:n], features.real_features), kernel="rbf",
                bandwidth=features.bandwidth)}


#: notebook 04's claims: (key, measure, the paper's direction, whether the paper states it), in table order; the
#: paper reports pixel distance, gFID and rFID, the other measures follow from its argument only
CLAIMS = (("pixel", PIXEL, "higher", True), ("token_entropy", "token entropy", "higher", False),
          ("vendi", VENDI, "higher", False), ("recall", RECALL, "higher", False),
          ("frechet", FRECHET, "lower", True), ("recon", "tokenizer recon MSE", "lower", True))


def tokenizers_finished(ctx: Context) -> bool | None:
    """Have the tokenizers behind notebook 04 finished learning (their code usage and reconstruction error,
    :func:`vqlib.studies.core.learning_finished`)? False when any has not; None when some were evaluated at their
    endpoints only and none failed. Every row of notebook 04 rests on all of them."""
    from .core import run_cases

    runs = run_cases(tokenizer_cases(ctx), desc="tokenizers", progress=False)
    return all_finished(runs.finished("utilization"), runs.finished("recon_mse"))


def claims(table: pd.DataFrame, finished: bool | None = None) -> list[Claim]:
    """Deferred tokenizers (per seed, the mean over T_c) against the early one: more diverse samples (pixel
    distance, token entropy, Vendi score, recall), closer to real images (Fréchet distance) and better
    reconstructions. Keys (for the prose): pixel, token_entropy, vendi, recall, frechet, recon. ``finished``:
    whether the tokenizers had finished learning (:func:`tokenizers_finished`), for the claims table."""
    early = table[table.arm == BASELINE.id].sort_values("seed")
    deferred = table[table.arm.isin(DEFERRED_ARMS)].groupby("seed").mean(numeric_only=True).sort_index()
    return [Claim(f"{metric}: deferred (mean over T_c) vs early", paper, deferred[metric].tolist(),
                  early[metric].tolist(), stated, key=key, finished=finished)
            for key, metric, paper, stated in CLAIMS]


#: the control rows' measures: (key, measure, whether higher is better)
CONTROL_CLAIMS = (("pixel", PIXEL, True), ("vendi", VENDI, True), ("recall", RECALL, True),
                  ("frechet", FRECHET, False))


def realized(table: pd.DataFrame, measure: str) -> pd.Series:
    """The share of the floor-to-ceiling range a tokenizer's samples reach on ``measure``, per row: (samples -
    unigram samples) / (reconstructions - unigram samples); 0 at the unigram floor, 1 at the reconstructions'
    ceiling, for either direction of the measure (NaN where floor and ceiling coincide)."""
    floor, ceiling = table[column(measure, UNIGRAM)], table[column(measure, RECONSTRUCTIONS)]
    span = (ceiling - floor).where((ceiling - floor).abs() > 1e-12)
    return (table[column(measure, SAMPLES)] - floor) / span


def _per_seed(table: pd.DataFrame, values: pd.Series) -> tuple[list[float], list[float]]:
    """(deferred: per seed the mean over T_c, early: per seed) of per-row ``values``."""
    frame = table[["arm", "seed"]].assign(value=values.to_numpy())
    early = frame[frame.arm == BASELINE.id].sort_values("seed")["value"].tolist()
    deferred = frame[frame.arm.isin(DEFERRED_ARMS)].groupby("seed")["value"].mean().sort_index().tolist()
    return deferred, early


def control_claims(table: pd.DataFrame, finished: bool | None = None) -> list[Claim]:
    """The controls as numbers (implied, not reported by the paper), per image measure: what the tokenizer allows
    (its reconstructions of held-out images, the ceiling: deferred against early; keys ``ceiling_<measure>``) and
    whether a prior realizes more of it (the share of the floor-to-ceiling range its samples reach,
    :func:`realized`; keys ``realized_<measure>``). Deferral's sample gains could come from either."""
    out = []
    for key, measure, higher in CONTROL_CLAIMS:
        deferred, early = _per_seed(table, table[column(measure, RECONSTRUCTIONS)])
        out.append(Claim(f"{measure} of reconstructions (the ceiling): deferred (mean over T_c) vs early",
                         "higher" if higher else "lower", deferred, early, stated=False, key=f"ceiling_{key}",
                         finished=finished))
        deferred, early = _per_seed(table, realized(table, measure))
        out.append(Claim(f"{measure}: samples' share of the unigram-to-reconstruction range, deferred (mean over "
                         "T_c) vs early", "higher", deferred, early, stated=False, key=f"realized_{key}",
                         finished=finished))
    return out


def tokenizer_cases(ctx: Context) -> list[Case]:
    """The tokenizers compared (notebook 03's CIFAR-10 runs): every arm of TOKENIZER_ARMS, the sweep seeds
    (labels: arm, arm_label)."""
    return [Case(run_spec(CIFAR10, a, seed, ctx), {"arm": a.id, "arm_label": a.label})
            for a in TOKENIZER_ARMS for seed in range(ctx.scale.image_sweep_seeds)]


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 04 draws (its tokenizers; priors and samples are cached by :func:`generate`)."""
    return {"tokenizers": tokenizer_cases(ctx)}


def study_claims(ctx: Context, temperature: float = 1.0, top_k: int | None = None, **_options) -> list[Claim]:
    """Notebook 04's claims from its (cached) tokenizers, priors and samples."""
    table, _ = results(feature_net(ctx), ctx, temperature, top_k)
    finished = tokenizers_finished(ctx)
    return claims(table, finished) + control_claims(table, finished)


# ---- What notebook 04 shows: the study's results, its tables and the numbers its prose states ----------------

@dataclass
class Study:
    """Notebook 04's results at one setting: the results table (one row per tokenizer and seed), the first
    samples of each tokenizer's seed-0 prior (by tokenizer label), the feature network, the real held-out images'
    measures, the sampler's settings and where the table was written."""

    table: pd.DataFrame
    grids: dict[str, torch.Tensor]
    features: FeatureNet
    reference: dict[str, float]
    ctx: Context
    temperature: float
    top_k: int | None
    csv: Path

    @property
    def seeds(self) -> list[int]:
        """The tokenizer seeds in the table."""
        return sorted(int(seed) for seed in self.table["seed"].unique())


def study(features: FeatureNet, ctx: Context, temperature: float = 1.0, top_k: int | None = None,
          executor=None) -> Study:
    """:func:`results` (from the cache where it can) with the real images' :func:`reference`; writes the results
    table to ``figures/04_results.csv`` (:func:`write_results`)."""
    table, grids = results(features, ctx, temperature, top_k, executor)
    return Study(table, grids, features, reference(features, ctx), ctx, temperature, top_k,
                 write_results(table, ctx))


def write_results(table: pd.DataFrame, ctx: Context) -> Path:
    """The results table, rounded to 5 decimals, as ``04_results.csv`` in the scale's figures folder."""
    path = paths.figures_dir(ctx.name) / "04_results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.round(5).to_csv(path, index=False)
    return path


def source(ctx: Context) -> str:
    """Where the CIFAR-10 images come from, in a few words (the figures' provenance)."""
    return _data(ctx).source.split(",")[0]


def setting(ctx: Context) -> str:
    """The notebook's setting in two lines: the CIFAR-10 source and, at this scale, the tokenizers, seeds, prior
    and samples."""
    s = ctx.scale
    return (f"CIFAR-10 source: {paths.relative_text(_data(ctx).source)}\n"
            f"scale {s.name}: tokenizers {[a.label for a in TOKENIZER_ARMS]}, "
            f"seeds {list(range(s.image_sweep_seeds))}; prior {s.prior_steps} steps (dim {s.prior_dim}, depth "
            f"{s.prior_depth}); {s.generated_samples} samples each")


def means_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every measure per tokenizer, the mean over seeds (rounded to 3 decimals), tokenizers as columns."""
    return table.groupby("tokenizer", sort=False).mean(numeric_only=True).drop(columns="seed").round(3).T


def controls_long(table: pd.DataFrame) -> pd.DataFrame:
    """The control measures in long form: T_c %, seed, ``source`` (the image set of IMAGE_SETS) and one column per
    measure of CONTROL_MEASURES."""
    return pd.concat([table[["T_c %", "seed"]].assign(source=image_set,
                                                      **{m: table[column(m, image_set)] for m in CONTROL_MEASURES})
                      for image_set in IMAGE_SETS])


def nll_by_tc(table: pd.DataFrame) -> pd.DataFrame:
    """The priors' and the unigram model's held-out NLL per T_c, the mean over seeds."""
    return table.groupby("T_c %")[[PRIOR_NLL, UNIGRAM_NLL]].mean()


def controls_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per tokenizer (mean over seeds, 3 decimals): both held-out NLLs and every control measure on every image
    set."""
    columns = [PRIOR_NLL, UNIGRAM_NLL] + [column(m, image_set) for m in CONTROL_MEASURES for image_set in IMAGE_SETS]
    return table.groupby("tokenizer", sort=False)[columns].mean().round(3).T


# The facts the prose states (vqlib.studies.prose.say). Every comparison is deferral against the baseline: the
# means over seeds of each tokenizer, the deferred ones as a list (one per T_c, a ``range`` in the templates).

def _means(table: pd.DataFrame) -> pd.DataFrame:
    return table.groupby("arm", sort=False).mean(numeric_only=True)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _low_high(values) -> dict:
    values = list(values)
    return {"low": min(values), "high": max(values)}


def _against(table: pd.DataFrame, col: str) -> dict:
    """``col`` for the baseline and each deferred tokenizer (means over seeds) and the deferred ones' change
    against the baseline in % (low, high)."""
    means = _means(table)[col]
    base = float(means[BASELINE.id])
    deferred = [float(means[a]) for a in DEFERRED_ARMS if a in means.index]
    return {"baseline": base, "deferred": deferred,
            "gain": _low_high(100 * (_ratio(d, base) - 1) for d in deferred)}


def _seeds_lower(table: pd.DataFrame, col: str) -> str:
    """'on every seed' when every deferred tokenizer's ``col`` is below the baseline's of the same seed, else on
    how many seeds it is."""
    wide = table.pivot(index="seed", columns="arm", values=col)
    deferred = [a for a in DEFERRED_ARMS if a in wide.columns]
    lower = int(wide[deferred].lt(wide[BASELINE.id], axis=0).all(axis=1).sum())
    return "on every seed" if lower == len(wide) else f"on {lower} of {len(wide)} seeds"


def feature_facts(features: FeatureNet) -> Facts:
    """The feature classifier: its training steps, its test accuracy and the held-out images it is tested on."""
    return facts(steps=features.steps, accuracy=features.accuracy, images=len(features.real))


def results_facts(result: Study) -> Facts:
    """Where the results table went, and the diversity of the real held-out images (pixel distance, RBF Vendi
    score and the kernel's bandwidth)."""
    return facts(csv=result.csv.relative_to(paths.repo_root()) if result.csv.is_relative_to(paths.repo_root())
                 else result.csv, pixel=result.reference[PIXEL], vendi=result.reference[VENDI],
                 bandwidth=result.features.bandwidth)


def controls_facts(result: Study) -> Facts:
    """The controls section: held-out NLL of priors and unigram models (``nll``), the reconstructions' measures
    (``ceiling``), the samples' and the unigram samples' (``samples``, ``unigram``), each as :func:`_against`,
    whether every prior beats its unigram model (``beat``), on how many seeds deferral's samples are closer to
    real images (``frechet_seeds``), and the recall of samples and reconstructions per tokenizer, in %."""
    table = result.table
    prior, unigram = _against(table, PRIOR_NLL), _against(table, UNIGRAM_NLL)
    beats = bool((table[PRIOR_NLL] < table[UNIGRAM_NLL]).all())
    means = _means(table)
    return facts(
        scale=result.ctx.name,
        beat="beat" if beats else "do not all beat",
        nll={"baseline": {"prior": prior["baseline"], "unigram": unigram["baseline"],
                          "gap": unigram["baseline"] - prior["baseline"]},
             "deferred": {"prior": prior["deferred"], "unigram": unigram["deferred"],
                          "gap": [u - p for u, p in zip(unigram["deferred"], prior["deferred"])]}},
        **{name: {key: _against(table, column(measure, image_set)) for key, measure in
                  (("pixel", PIXEL), ("vendi", VENDI), ("recall", RECALL), ("frechet", FRECHET))}
           for name, image_set in (("samples", SAMPLES), ("ceiling", RECONSTRUCTIONS), ("unigram", UNIGRAM))},
        frechet_seeds=_seeds_lower(table, FRECHET),
        **_survives(control_claims(table)),
        recall={"samples": (100 * means[RECALL]).tolist(),
                "reconstructions": (100 * means[column(RECALL, RECONSTRUCTIONS)]).tolist()})


def _survives(rows: list[Claim]) -> dict:
    """The controls' claims (``claims.ceiling_<m>``, ``claims.realized_<m>``) and what survives them: which measures'
    ceilings are higher with deferral (``ceiling_agrees``), which measures' realized share is (``realized_agrees``),
    and the sentence that follows (``survives``)."""
    found = claim_facts(rows)
    names = {key: measure for key, measure, _ in CONTROL_CLAIMS}
    ceiling = [names[k] for k in names if found[f"ceiling_{k}"].verdict == "agrees"]
    more = [names[k] for k in names if found[f"realized_{k}"].verdict == "agrees"]
    if ceiling and not more:
        survives = ("deferral's tokenizers allow better images (" + join(ceiling) + "), and priors on them realize "
                    "no larger share of that range than on the baseline's: the sample-level gains come from what the "
                    "tokenizer can decode, not from tokens that are easier to model")
    elif more:
        survives = (f"priors on deferral's tokens also realize a larger share of the range on {join(more)}: part of "
                    "the sample-level gain is the generator's, not only the tokenizer's")
    else:
        survives = "neither the ceiling nor the realized share separates the tokenizers on any measure"
    return {"claims": found, "ceiling_agrees": join(ceiling) or "none", "realized_agrees": join(more) or "none",
            "survives": survives}


#: how a claim's interval lies against the equality band, by its verdict (a "higher" or "lower" claim)
_BAND = {"agrees": "lies beyond", "inconclusive": "reaches the edge of", "disagrees": "does not reach beyond"}


def quality_facts(result: Study) -> Facts:
    """The section on quality against diversity: token statistics of real token maps and samples, the priors'
    losses, the image measures of the samples (:func:`_against`), the widest spread of pixel distance between the
    seeds of one tokenizer, recall per run (%), reconstruction errors, the setting (prior, samples, seeds,
    feature classifier) and the claims (``claims``, by key, with ``gain``: the effect in %, ``lowest`` and
    ``highest``: the interval's ends in %, ``band``: how the interval lies against the equality band)."""
    table, s = result.table, result.ctx.scale
    spreads = table.groupby("arm", sort=False)[PIXEL].agg(["min", "max"])
    widest = (spreads["max"] / spreads["min"]).idxmax()
    rows = claims(table)
    verdicts = claim_facts(rows)
    for row in verdicts.values():
        ratio = row.kind == "ratio"
        row["gain"] = 100 * (row.effect - 1) if ratio else math.nan
        row["lowest"] = 100 * (row.low - 1) if ratio else math.nan  # the interval's ends in %
        row["highest"] = 100 * (row.high - 1) if ratio else math.nan
        row["band"] = _BAND[row.verdict]
    return facts(
        scale=result.ctx.name,
        codes=_against(table, "real distinct codes / sample"),
        entropy={"samples": _against(table, "token entropy"), "real": _against(table, "real token entropy")},
        loss=_against(table, "prior final loss (nats/token)"),
        pixel=_against(table, PIXEL), vendi=_against(table, VENDI), frechet=_against(table, FRECHET),
        recon=_against(table, "tokenizer recon MSE"),
        pixel_clearly="clearly" if verdicts["pixel"].verdict == "agrees" else "*not* clearly",
        frechet_seeds=_seeds_lower(table, FRECHET),
        spread={"percent": 100 * (spreads.loc[widest, "max"] / spreads.loc[widest, "min"] - 1),
                "low": spreads.loc[widest, "min"], "high": spreads.loc[widest, "max"],
                "tokenizer": "baseline" if widest == BASELINE.id else ARMS[widest].label},
        recall_runs=(100 * table[RECALL]).tolist(),
        real_vendi=result.reference[VENDI],
        prior_steps=s.prior_steps, prior_depth=s.prior_depth, samples=s.generated_samples,
        seeds=len(result.seeds), accuracy=result.features.accuracy,
        claims=verdicts)


def intervals_facts(rows: list[Claim]) -> Facts:
    """How the claims table's intervals were made: values per side (``n``: one number when every row has the
    same, else the list) and what the intervals are (``interval``, in words)."""
    counts = sorted({len(c.first) for c in rows} | {len(c.second) for c in rows})
    kinds = list(dict.fromkeys(claims_table(rows)["interval kind"]))
    words = []
    for kind in kinds:
        if kind == "point":
            words.append("a point (one value per side)")
        elif kind.startswith("min-max of "):
            count = kind.split()[2]
            words.append(f"the min-max of {count} {'paired effects' if kind.endswith('pairs') else 'comparisons'}")
        else:
            words.append(f"a {kind} interval over seeds")
    return facts(n=counts[0] if len(counts) == 1 else counts, interval=join(words, "or"))
