# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Generative diversity of token-based generators
#
# The paper's headline claim: early quantization, by shrinking the codebook, makes a generator trained on its
# tokens **less diverse**; deferred quantization restores diversity without hurting reconstruction ([TRS]
# Table 2: <cite>VAR gFID 10.70 vs 12.88 and mean pairwise pixel distance 75.9 vs 70.7</cite>, deferred vs early).
#
# Here, end to end on CIFAR-10 (the pipeline is `vqlib.studies.generation`): the tokenizers of notebook 03 (early quantization — the paper's baseline — and
# deferred quantization at several T_c, same step budget) turn images into 8×8 token maps; one small
# autoregressive prior per tokenizer (`vqlib.generate.TokenPrior`: a causal transformer over the 64 flattened
# tokens with a start token) is trained on them; samples are drawn at temperature 1 without top-k (plain
# ancestral sampling, so that diversity is the prior's, not the sampler's) and decoded by the tokenizer.
#
# Measures (`vqlib.diversity`):
# - on tokens: entropy of the pooled token histogram and distinct codes per sample, and the same for the real
#   held-out images' token maps as the reference;
# - on images: the paper's mean pairwise pixel distance (L2 on the `0-255` pixel scale); and, in the feature space of
#   a **small CIFAR-10 classifier trained once by this project** (`vqlib.features.SmallCNN` — *not* the
#   Inception network, so these are not FID values and are not comparable to published numbers): Fréchet
#   distance to real images, precision and recall (k-NN manifolds, <cite>Kynkäänniemi et al. 2019</cite>) and the
#   Vendi score (<cite>Friedman & Dieng 2023</cite>) with an RBF kernel on features standardized by the held-out
#   images' mean and spread, bandwidth = the median distance between those images' standardized features (a cosine
#   kernel on the classifier's non-negative ReLU features saturates: every pair looks similar);
# - each tokenizer's reconstruction error on held-out images, so quality and diversity sit side by side.
#
# Controls, because a blurrier tokenizer lowers pixel distance whatever its prior does: the same image measures
# on each tokenizer's **reconstructions of held-out images** (the ceiling that tokenizer allows any prior) and
# on **unigram samples** (token maps drawn position by position from the training tokens' code frequencies,
# decoded by the same tokenizer: a prior that learned nothing but the vocabulary); and each prior's
# **held-out negative log-likelihood** per token against the unigram model's.

# %% tags=["parameters"]
import os

scale = os.environ.get("VQLIB_SCALE", "default")  # smoke | default | paper
temperature = 1.0
top_k = None
# a local CIFAR-10 copy; None: VQLIB_CIFAR10 where the data is read (the figures' provenance names it), else the
# official download
cifar_root = None
imagenet_root = None  # an ImageFolder root; None: VQLIB_IMAGENET, else no ImageNet rows in the summary
imagenet_classes = None  # a file of the wnids to keep (ImageNet-100); None: VQLIB_IMAGENET_CLASSES, else all

# %%
import time

from vqlib.plotting import generation as plots
from vqlib.plotting import show
from vqlib.studies import begin, claims_table, generation, say, summary

ctx = begin(scale, cifar_root, imagenet_root, imagenet_classes)  # the scale and data, house style, wide tables
started = time.perf_counter()
print(generation.setting(ctx))

# %% [markdown]
# ## The feature network
#
# A small CNN trained once on the CIFAR-10 training images (cached) and used only as a feature extractor for
# the Fréchet distance, precision/recall and Vendi score. Its test accuracy is stated so its features can be
# judged; it is far from Inception's.

# %%
features = generation.feature_net(ctx)

# %% tags=["remove-input"]
say(generation.feature_facts(features), """
Feature classifier: {steps} steps, test accuracy {accuracy:%.1} on {images} held-out images.
""")

# %% [markdown]
# ## Train a prior per tokenizer and sample

# %%
study = generation.study(features, ctx, temperature, top_k)  # writes figures/04_results.csv
generation.means_table(study.table)

# %% tags=["remove-input"]
say(generation.results_facts(study), """
Wrote `{csv}`. Real held-out images: pixel distance {pixel:.1f}, Vendi score (RBF, bandwidth {bandwidth:.2f})
{vendi:.1f}.
""")

# %% [markdown]
# ## Samples
#
# At the default scale the samples are colour-and-texture blobs, not objects: the tokenizers and priors are
# small and trained for minutes on a CPU. The comparison that matters is between arms, not against published
# samples.

# %%
show(plots.samples(study))

# %% [markdown]
# ## Diversity against T_c

# %%
show(plots.diversity_vs_tc(study))

# %% [markdown]
# ## The controls: what the tokenizer allows, what a prior adds
#
# For each image measure, three sets through the same tokenizer: the prior's samples, the tokenizer's
# reconstructions of held-out images (the ceiling) and unigram samples (the floor); and the priors' held-out
# negative log-likelihood per token against the unigram model's (lower is better; the gap is what the prior
# learned beyond code frequencies).

# %%
show(plots.controls(study))
generation.controls_table(study.table)

# %% tags=["remove-input"]
say(generation.controls_facts(study), """
**Here ({scale} scale):** *the priors {beat} the unigram model* on held-out token maps, by {nll.baseline.gap:.2f}
nats per token with the baseline tokenizer ({nll.baseline.prior:.2f} against {nll.baseline.unigram:.2f}) and by
{nll.deferred.gap:range .2f} with deferral ({nll.deferred.prior:range .2f} against
{nll.deferred.unigram:range .2f}): they learn structure beyond code frequencies, yet their samples stay far below
the reconstruction ceiling on every image measure. *The ceiling differs between tokenizers:* deferral's
reconstructions of held-out images are more diverse and closer to real images than the baseline's — pixel
distance {ceiling.pixel.deferred:range ,.0f} against {ceiling.pixel.baseline:,.0f} ({ceiling.pixel.gain.low:+.0f} %
to {ceiling.pixel.gain.high:+.0f} %), Vendi {ceiling.vendi.deferred:range .2f} against
{ceiling.vendi.baseline:.2f} ({ceiling.vendi.gain.low:+.0f} % to {ceiling.vendi.gain.high:+.0f} %), recall
{ceiling.recall.deferred:range .2f} against {ceiling.recall.baseline:.2f}, Fréchet distance
{ceiling.frechet.deferred:range .1f} against {ceiling.frechet.baseline:.1f}. *The samples realize a part of it:*
pixel distance {samples.pixel.gain.low:+.0f} % to {samples.pixel.gain.high:+.0f} %
({samples.pixel.deferred:range ,.0f} against {samples.pixel.baseline:,.0f}), a little more than the ceiling's own
gap but less than the unigram samples' ({unigram.pixel.gain.low:+.0f} % to {unigram.pixel.gain.high:+.0f} %,
{unigram.pixel.deferred:range ,.0f} against {unigram.pixel.baseline:,.0f}), so the decoders alone can produce it;
Vendi {samples.vendi.deferred:range .2f} against {samples.vendi.baseline:.2f} ({samples.vendi.gain.low:+.0f} % to
{samples.vendi.gain.high:+.0f} %, against {unigram.vendi.gain.low:+.0f} % to {unigram.vendi.gain.high:+.0f} % for
the unigram samples); Fréchet distance {samples.frechet.deferred:range .1f} against
{samples.frechet.baseline:.1f}, lower {frechet_seeds}, while deferral's unigram samples are *further* from real
images than the baseline's ({unigram.frechet.deferred:range .1f} against {unigram.frechet.baseline:.1f}).
*As numbers* (claims table, implied rows): the ceiling, deferred against early — Vendi
{claims.ceiling_vendi.effect:.2f} (**{claims.ceiling_vendi.verdict}**), Fréchet distance
{claims.ceiling_frechet.effect:.2f} (**{claims.ceiling_frechet.verdict}**), pixel distance
{claims.ceiling_pixel.effect:.2f} (**{claims.ceiling_pixel.verdict}**), recall {claims.ceiling_recall.effect:.2f}
(**{claims.ceiling_recall.verdict}**); the share of the unigram-to-reconstruction range the samples reach, deferred
against early — Vendi {claims.realized_vendi.first:.2f} against {claims.realized_vendi.second:.2f}
(**{claims.realized_vendi.verdict}**), Fréchet distance {claims.realized_frechet.first:.2f} against
{claims.realized_frechet.second:.2f} (**{claims.realized_frechet.verdict}**), pixel distance
{claims.realized_pixel.first:.2f} against {claims.realized_pixel.second:.2f} (**{claims.realized_pixel.verdict}**),
recall {claims.realized_recall.first:.2f} against {claims.realized_recall.second:.2f}
(**{claims.realized_recall.verdict}**). **What survives the controls:** {survives}. Our small priors realize only a
fraction of what either tokenizer allows (samples' recall {recall.samples:range .0f} % against
{recall.reconstructions:range .0f} % for reconstructions).
""")

# %% [markdown]
# ## Quality against diversity

# %%
show(plots.quality_vs_diversity(study))

# %% [markdown]
# **Paper:** generators trained on deferred-quantization tokens are more diverse (higher pixel distance) and
# slightly better (lower gFID); reconstruction is not hurt.

# %% tags=["remove-input"]
say(generation.quality_facts(study), """
**Here ({scale} scale):** *tokens:* the baseline tokenizer's token maps use fewer distinct codes
({codes.baseline:.1f} per real image against {codes.deferred:range .1f} for deferral), and each prior reproduces
its tokenizer's token statistics closely (pooled token entropy of samples {entropy.samples.baseline:.2f} nats
against {entropy.real.baseline:.2f} for real token maps with the baseline; {entropy.samples.deferred:range .2f}
against {entropy.real.deferred:range .2f} with deferral). The generator inherits the tokenizer's vocabulary, as
the paper argues (the baseline's prior also reaches a lower loss, {loss.baseline:.1f} against
{loss.deferred:range .1f} nats per token: a smaller vocabulary is easier to model). *Images:* in pixel space the
samples through deferred tokenizers are {pixel_clearly} more diverse here: mean pairwise distance
{pixel.deferred:range ,.0f} against {pixel.baseline:,.0f} on the `0-255` scale ({pixel.gain.low:+.0f} % to
{pixel.gain.high:+.0f} %; {claims.pixel.lowest:+.0f} % to {claims.pixel.highest:+.0f} % across the {seeds} seed
pairs), while the {seeds} seeds of one tokenizer differ by up to {spread.percent:.0f} % ({spread.low:,.0f} and
{spread.high:,.0f} for the {spread.tokenizer}). They are closer to real images in the small CNN's feature space
(Fréchet distance {frechet.deferred:range .1f} against {frechet.baseline:.1f}, {frechet_seeds}). The Vendi score
(RBF kernel) is {vendi.deferred:range .2f} for deferral against {vendi.baseline:.2f} (real held-out images:
{real_vendi:.1f}), and recall is low for every prior ({recall_runs:range .0f} % per run: these
{prior_steps}-step priors cover little of the real image manifold). Reconstruction is better with deferral
({recon.deferred:range .3f} against {recon.baseline:.3f}), so no quality is traded.

Verdicts: token diversity (the vocabulary the generator inherits) **{claims.token_entropy.verdict}**;
feature-space diversity (RBF Vendi, {vendi.gain.low:+.0f} % to {vendi.gain.high:+.0f} %)
**{claims.vendi.verdict}**; the Fréchet distance ({frechet.gain.high:+.0f} % to {frechet.gain.low:+.0f} %)
**{claims.frechet.verdict}**; recall ({claims.recall.first:%.1} against {claims.recall.second:%.1}, but from a few
hundred samples and with one seed pair at {claims.recall.lowest:+.0f} %) **{claims.recall.verdict}**; pixel
diversity ({claims.pixel.gain:+.0f} %, the interval [{claims.pixel.low:.3g}, {claims.pixel.high:.3g}]
{claims.pixel.band} the 5 % band) **{claims.pixel.verdict}**. Verdicts have moved between runs of this notebook:
an earlier run (2 seeds, another thread count) judged pixel distance, recall and the Fréchet distance
differently, and a first version on another machine measured a larger pixel-distance gain for deferral (the
repository's history keeps both): the early tokenizers' collapse depends on the last bits of the arithmetic
(notebook 02, Settings), and at {seeds} seeds and {samples} samples the pixel measure cannot tell a few per cent
from noise. The controls above say how much of this is the tokenizer and how much the prior. Caveats: small
priors ({prior_steps} steps, {prior_depth} layers), {samples} samples per prior, a feature classifier with
{accuracy:%.0} test accuracy, {seeds} seeds.
""")

# %% [markdown]
# ## Claims against measurements
#
# n values on each side, one per seed (deferred: the mean over its three T_c), the means, the effect (the ratio of
# the means, or their difference where a value is not positive) with an interval - a bootstrap 95 % interval over
# seeds from 5 seeds per side on, below that the min-max of the per-seed effects (the `interval` column says which;
# one value per side is a point) - and the verdict by the rule every notebook shares (`vqlib.studies.claims`):
# *agrees* when the whole interval lies beyond the 5 % equality band on the paper's side, *disagrees* when it lies
# on the band or on the other side, *inconclusive* when it straddles the band's edge. The column `finished` says
# whether the tokenizers behind every row had finished learning (notebook 02, section 2: at the sweeps' budget the
# early tokenizers had not).
# The column `one seed out` says whether leaving out any one seed leaves the verdict as it is (*changes*: the
# verdict is within noise; another machine's arithmetic or other seeds can read it differently).

# %% tags=["remove-input"]
say(generation.intervals_facts(generation.claims(study.table)), """
Here every row has {n} seeds per side, so every interval is {interval}; with so few seeds it says little about
the spread a reader should expect.
""")

# %%
finished = generation.tokenizers_finished(ctx)  # the claims table's "finished": the tokenizers', as they ran
claims = claims_table(generation.claims(study.table, finished) + generation.control_claims(study.table, finished))
print(f"scale {ctx.name}; notebook time {time.perf_counter() - started:.0f} s (cached tokenizers, priors and "
      "samples take seconds)")
claims.round(4)

# %% [markdown]
# ## Summary: every claim of every notebook
#
# The claims tables of every notebook that has one (01-04 and 06, `vqlib.studies.summary`: the same runs, from the
# cache) in one picture: each claim's effect (the ratio of the two means) with its interval, coloured by verdict; the marker
# points the way the paper expects, hollow where the paper only implies the direction. Where a bar crosses
# the grey band (equal within 5 %) or lies on the wrong side of it, the claim is not supported here. Seeds as in
# each notebook: 5 per side for the headline comparisons, 3 per sweep point (here, 3 per tokenizer).

# %%
everything = summary.all_claims(ctx, temperature=temperature, top_k=top_k)
show(plots.summary_effects(everything, ctx))
summary.verdict_counts(everything)
