"""Notebook 04: generative diversity of token-based generators - the tokenizers, the feature network, the
generation pipeline (tokenize -> train a prior -> sample -> decode -> measure) and the claims.

The tokenizers are notebook 03's CIFAR-10 runs (early quantization and deferral at several T_c), taken from
:func:`vqlib.studies.fixes.run_spec` so they come from the cache. Each tokenizer and seed gets one prior;
its samples are measured on tokens, pixels and the features of a small CIFAR-10 classifier. The whole
pipeline's result (the measures and the samples shown) is cached per tokenizer, prior, sampler and
classifier, so a second run draws the figures without tokenizing, training or sampling again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import torch

from .. import cache as store
from .. import diversity, executors
from ..data import Prepared, prepare
from ..experiments import RunResult, run, run_many
from ..features import SmallCNN, accuracy, cached_classifier, classifier_payload, extract_features
from ..generate import PriorSpec, cached_prior, prior_loss, sample, tokenize
from .arms import ARMS
from .claims import Claim
from .context import Context
from .core import Case
from .fixes import TIMING_ARMS, run_spec

__all__ = ["TOKENIZER_ARMS", "GRID_SAMPLES", "prior_spec", "FeatureNet", "feature_net", "Generation", "generate",
           "results", "reference", "claims"]

#: the tokenizers compared: early quantization (the baseline) and deferral at T_c = 10 %, 33 %, 50 %
TOKENIZER_ARMS = ("early_kmeans", "deferred_10", "deferred", "deferred_50")
#: samples per tokenizer kept for the figure of samples
GRID_SAMPLES = 32
#: the generator's own seed for sampling (the prior's weights take the tokenizer's seed)
SAMPLE_SEED = 0
#: what the pipeline measures, in its cache payload: bump when :func:`generate` computes other measures or
#: controls (2: controls, held-out NLL, RBF Vendi; distinct-map fraction dropped), so no stale row is served
PIPELINE_VERSION = 2


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
        return {"pixel distance": diversity.mean_pairwise_pixel_distance(images),
                "Frechet distance (small CNN)": diversity.frechet_distance(self.real_features, feats),
                "precision": pr["precision"], "recall": pr["recall"],
                "Vendi score (RBF)": diversity.vendi_score(diversity.standardize(feats, self.real_features),
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
    return prepare(run_spec("CIFAR-10", "early_kmeans", 0, ctx).data)


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


def generate(tokenizer: RunResult, arm_id: str, features: FeatureNet, ctx: Context, temperature: float = 1.0,
             top_k: int | None = None) -> Generation:
    """The whole pipeline for one tokenizer, cached: tokenize the training and held-out images, train a
    prior on the training tokens (seed: the tokenizer's), sample ``generated_samples`` token maps, decode
    them, and measure tokens, pixels and features against the held-out images."""
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
            "prior held-out NLL (nats/token)": prior_loss(prior, real_tokens),
            "unigram held-out NLL (nats/token)": float(-unigram.log()[real_tokens.flatten()].mean()),
            "token entropy": token_stats["token_entropy"], "real token entropy": real_token_stats["token_entropy"],
            "distinct codes / sample": token_stats["distinct_codes_per_sample"],
            "real distinct codes / sample": real_token_stats["distinct_codes_per_sample"],
            **features.measures(generated),
            **{f"{k} · reconstructions": v for k, v in features.measures(reconstructed).items()},
            **{f"{k} · unigram": v for k, v in features.measures(unigram_images).items()},
        }
        return {"row": row, "grid": generated[:GRID_SAMPLES].clone()}

    stored, hit = store.cached("generation", payload, compute)
    a = ARMS[arm_id]
    row = {"tokenizer": a.label, "arm": arm_id, "T_c %": TIMING_ARMS[arm_id], "seed": tokenizer.spec.seed,
           **stored["row"]}
    return Generation(row, stored["grid"], hit)


def results(features: FeatureNet, ctx: Context, temperature: float = 1.0, top_k: int | None = None,
            executor=None) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Every tokenizer of TOKENIZER_ARMS and ``Scale.image_sweep_seeds`` seeds through :func:`generate`: the
    results table (figures/04_results.csv) and, per tokenizer label, the samples of its first seed.

    Tokenizers and pipelines not in the cache are computed on ``executor`` (as in
    :func:`vqlib.experiments.run_many`; by default one process per core)."""
    s = ctx.scale
    jobs = [(arm_id, seed) for arm_id in TOKENIZER_ARMS for seed in range(s.image_sweep_seeds)]
    tokenizers = run_many([run_spec("CIFAR-10", arm_id, seed, ctx) for arm_id, seed in jobs],
                          desc="tokenizers", executor=executor)
    todo = [(t.spec, arm_id, ctx, temperature, top_k) for (arm_id, _), t in zip(jobs, tokenizers)
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
    for (arm_id, seed), tokenizer in zip(jobs, tokenizers):
        generation = generate(tokenizer, arm_id, features, ctx, temperature, top_k)
        rows.append(generation.row)
        if seed == 0:
            grids[ARMS[arm_id].label] = generation.grid
    return pd.DataFrame(rows), grids


def _generate_job(job) -> None:
    """What a worker does for :func:`results`: one tokenizer's pipeline into the cache."""
    spec, arm_id, ctx, temperature, top_k = job
    generate(run(spec), arm_id, feature_net(ctx), ctx, temperature, top_k)


def reference(features: FeatureNet, ctx: Context) -> dict[str, float]:
    """The same diversity measures on as many real held-out images as there are samples per prior."""
    n = ctx.scale.generated_samples
    return {"pixel distance": diversity.mean_pairwise_pixel_distance(features.real[:n]),
            "Vendi score (RBF)": diversity.vendi_score(
                diversity.standardize(features.real_features[:n], features.real_features), kernel="rbf",
                bandwidth=features.bandwidth)}


def claims(table: pd.DataFrame) -> list[Claim]:
    """Deferred tokenizers (per seed, the mean over T_c) against the early one: more diverse samples (pixel
    distance, token entropy, Vendi score, recall), closer to real images (Fréchet distance) and better
    reconstructions."""
    early = table[table.arm == "early_kmeans"].sort_values("seed")
    deferred = table[table.arm != "early_kmeans"].groupby("seed").mean(numeric_only=True).sort_index()
    out = []
    # the paper reports pixel distance, gFID and rFID; the other measures follow from its argument only
    for metric, paper, stated in (("pixel distance", "higher", True), ("token entropy", "higher", False),
                                  ("Vendi score (RBF)", "higher", False), ("recall", "higher", False),
                                  ("Frechet distance (small CNN)", "lower", True),
                                  ("tokenizer recon MSE", "lower", True)):
        out.append(Claim(f"{metric}: deferred (mean over T_c) vs early", paper, deferred[metric].tolist(),
                         early[metric].tolist(), stated))
    return out


def tokenizer_cases(ctx: Context) -> list[Case]:
    """The tokenizers compared (notebook 03's CIFAR-10 runs): every arm of TOKENIZER_ARMS, the sweep seeds
    (labels: arm, arm_label)."""
    return [Case(run_spec("CIFAR-10", arm_id, seed, ctx), {"arm": arm_id, "arm_label": ARMS[arm_id].label})
            for arm_id in TOKENIZER_ARMS for seed in range(ctx.scale.image_sweep_seeds)]


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 04 draws (its tokenizers; priors and samples are cached by :func:`generate`)."""
    return {"tokenizers": tokenizer_cases(ctx)}


def study_claims(ctx: Context, temperature: float = 1.0, top_k: int | None = None, **_options) -> list[Claim]:
    """Notebook 04's claims from its (cached) tokenizers, priors and samples."""
    table, _ = results(feature_net(ctx), ctx, temperature, top_k)
    return claims(table)
