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
# # 03 · The fixes: deferred quantization against the classic remedies
#
# Does deferring quantization fix tokens collapse and shrinkage? Is it the *timing* or the *initialization*
# that does it? How does it compare with what practitioners already use — EMA updates, dead-code
# re-initialization, cosine codes, a low-dimensional lookup, and `vector_quantize_pytorch.VectorQuantize`
# with its k-means initialization, dead-code expiry and its default rotation trick (so not plain straight-through;
# notebook 06 runs it without)? And does encoder capacity fix embeddings collapse?
#
# Every arm gets the same total number of optimizer steps. Two datasets: the higher-dimensional Gaussian
# mixture of notebook 01 (C = 64 components in D = 32) and CIFAR-10 (the convolutional VQ-VAE of notebook 02).
# Runs whose specs match notebooks 01 and 02 come from the run cache (every arm is defined in
# `vqlib.studies.arms`, every spec in `vqlib.studies.fixes`).

# %% tags=["parameters"]
import os

scale = os.environ.get("VQLIB_SCALE", "default")  # smoke | default | paper
# a local CIFAR-10 copy; None: the data loader reads VQLIB_CIFAR10 (and the figures' provenance names that
# variable), else the official download
cifar_root = None

# %%
import time

from vqlib import paths
from vqlib.plotting import fixes as plots
from vqlib.plotting import show
from vqlib.studies import begin, claims_table, fixes, run_cases, say

ctx = begin(scale, cifar_root)  # the scale and data, the house style, tables that show whole sentences
started = time.perf_counter()
print(fixes.describe(ctx))

# %% [markdown]
# ## Run every arm

# %%
runs = run_cases(fixes.arm_cases(ctx), desc="arms")
print("wrote", paths.relative_text(str(fixes.write_results(runs, ctx))))
fixes.summary_table(runs, decimals=3)

# %% [markdown]
# ## 1 · How long to defer
#
# T_c from 0 % (early quantization, the baseline) to 50 % of the budget; k-means on the encoder at the switch,
# EMA updates. Mean and min–max over seeds; each point in its arm's colour (red: the baseline; blues, darker
# with longer deferral).

# %%
show(plots.defer_fraction(runs, ctx))

# %% [markdown]
# **Paper:** deferral restores usage and removes shrinkage; the continuous phase only has to let the
# embeddings mature.

# %% tags=["remove-input"]
say(fixes.timing_facts(runs, ctx), """
**Here ({scale} scale; {mixture_seeds} seeds per point on the mixture; on CIFAR-10 {cifar_main_seeds} seeds at
T_c = {main_tc} %, {cifar_other_seeds} at the others):** on the mixture, {tc.deferred_05} % of the budget is too
little ({mixture.deferred_05.utilization:%.0} of the codes used, although reconstruction is already as good as
with longer deferral), {tc.deferred_10} % gives {mixture.deferred_10.utilization:%.0}, and {mixture.full_use}
and the codebook spans the embeddings (shrinkage ratio
{mixture.full_spread:range .1f}). On CIFAR-10 even {tc.deferred_05} % ({short_steps} steps) gives
{cifar.deferred_05.utilization:%.0} utilization and a ratio of {cifar.deferred_05.shrinkage_euclidean:.2f}. Longer
continuous phases cost nothing measurable in reconstruction at this budget (mixture MSE
{mixture.deferred_mse:range .3f} for every T_c > 0; CIFAR-10 {cifar.deferred_mse:range .3f}). **{verdict}**; the
continuous phase needed is {cifar.needed} on CIFAR-10 and {mixture.needed} on the mixture.
""")

# %% [markdown]
# ## 2 · All arms side by side
#
# Points: mean over seeds; lines: min to max. Each arm in its own colour, the same in every figure; the marker
# gives its family (circles: early quantization, squares: deferred, diamond: the outside reference).
# Perplexity, spread ratio and reconstruction error are on log axes.

# %%
show(plots.arms(runs, ctx))

# %% [markdown]
# **Paper:** the diversity gap comes from the *timing* of quantization, not from discretization itself;
# deferral works because it anchors the codebook to matured embeddings.

# %% tags=["remove-input"]
say(fixes.arms_facts(runs, ctx), """
**Here ({mixture_seeds} seeds per arm on the mixture; on CIFAR-10 {cifar_main_seeds} for the baseline and
deferral, {cifar_other_seeds} for every other arm):** *timing versus initialization:* deferring but starting the
codebook at random (normal) at the switch fails at least as badly as early quantization
({mixture.deferred_normal_init.utilization:%.0} of the codes used on the mixture against the baseline's
{mixture.early_kmeans.utilization:%.0}, {cifar.deferred_normal_init.utilization:%.0} on CIFAR-10 against
{cifar.early_kmeans.utilization:%.0}), while deferring with a random *sample* of embeddings works about as well
as k-means ({mixture.deferred_sample_init.utilization:%.0} and {cifar.deferred_sample_init.utilization:%.0},
against {mixture.deferred.utilization:%.0} and {cifar.deferred.utilization:%.0}). What deferral needs is a
codebook drawn from the *trained* embeddings; the timing matters because it decides which embeddings the
codebook is drawn from, and k-means versus sampling matters little. *Classic remedies:* dead-code
re-initialization on top of the baseline {dead_code_matches} deferral's usage here — {dead_code_use},
perplexity {mixture.early_dead_code.perplexity:.0f} vs {mixture.deferred.perplexity:.0f} (mixture) and
{cifar.early_dead_code.perplexity:.0f} vs {cifar.deferred.perplexity:.0f} (CIFAR-10), reconstruction
{mixture.early_dead_code.recon_mse:.3f} vs {mixture.deferred.recon_mse:.3f} and
{cifar.early_dead_code.recon_mse:.3f} vs {cifar.deferred.recon_mse:.3f} — although on CIFAR-10 its codebook
spans only {cifar.early_dead_code.shrinkage_euclidean:.2f} of the embeddings' spread (deferral's:
{cifar.deferred.shrinkage_euclidean:.2f}); so does vector-quantize-pytorch with k-means on its first batch,
dead-code expiry and its default rotation trick ({mixture.vqtorch.utilization:%.1} and {cifar.vqtorch.utilization:%.1}, perplexity
{mixture.vqtorch.perplexity:.0f} and {cifar.vqtorch.perplexity:.0f}). Codebook loss instead of EMA, cosine codes
and a low-dimensional lookup do not fix the collapse ({non_fixes:range .0f} % of the codes used).
**{verdict}**: deferral fixes tokens collapse, and the ablation supports the paper's mechanism (the codebook
must be anchored to matured embeddings); {but}.

*Is it the timing or the re-initialization?* If timing is the cause, deferral should still come out ahead of
early quantization with dead-code re-initialization. The claims table's rows for that question (implied, not
reported by the paper, which never tries re-initialization), deferred against early + re-init: on the mixture
{reinit.mixture}; on CIFAR-10 {reinit.cifar}. Deferral against vector-quantize-pytorch (its rotation trick, EMA,
its own k-means on the first batch and expiry): utilization {claims.mixture_peer.verdict} on the mixture,
{claims.cifar_peer.verdict} on CIFAR-10; against the baseline trained by the codebook loss instead of EMA:
{claims.mixture_no_ema.verdict} and {claims.cifar_no_ema.verdict}.

*Initialization versus update rule:* a random-normal codebook updated by EMA (like the baseline) instead of by
the codebook loss uses {ema_vs_loss} codes than with the codebook loss ({mixture.early_normal_ema.utilization:%.0}
against {mixture.early_normal.utilization:%.1} on the mixture, {cifar.early_normal_ema.utilization:%.1} against
{cifar.early_normal.utilization:%.1} on CIFAR-10) but {normal_vs_kmeans} than the baseline's k-means start
({mixture.early_kmeans.utilization:%.0} and {cifar.early_kmeans.utilization:%.0}): the update rule matters, the
initialization more. *Scale or randomness?* Those normal codebooks have unit spread, far wider than the embeddings
on CIFAR-10. Drawn instead from a normal with the embeddings' own mean and covariance (as spread as they are), with
EMA: early, {mixture.early_matched_normal.utilization:%.0} of the codes on the mixture and
{cifar.early_matched_normal.utilization:%.0} on CIFAR-10 (unit-scale normal + EMA:
{mixture.early_normal_ema.utilization:%.0} and {cifar.early_normal_ema.utilization:%.0}; the baseline's k-means:
{mixture.early_kmeans.utilization:%.0} and {cifar.early_kmeans.utilization:%.0}); at the switch,
{mixture.deferred_matched_normal.utilization:%.0} and {cifar.deferred_matched_normal.utilization:%.0} (unit scale:
{mixture.deferred_normal_init.utilization:%.0} and {cifar.deferred_normal_init.utilization:%.0}; k-means:
{mixture.deferred.utilization:%.0} and {cifar.deferred.utilization:%.0}). Deferral against the early matched-scale
arm: **{claims.mixture_matched_early.verdict}** on the mixture, **{claims.cifar_matched_early.verdict}** on
CIFAR-10; k-means against a matched-scale normal at the switch: **{claims.mixture_matched_init.verdict}** and
**{claims.cifar_matched_init.verdict}**. So, early, a random codebook at the embeddings' scale uses
{matched_vs_kmeans} codes than k-means on both datasets ({matched_vs_unit} than one at unit scale): what made the
random early arms look worst is {scale_reading}. *Combining fixes:* deferral with dead-code re-initialization uses {combined_use} with
{combined_best} ({mixture.deferred_dead_code.perplexity:.0f} against {mixture.deferred.perplexity:.0f} for
deferral alone on the mixture, {cifar.deferred_dead_code.perplexity:.0f} against {cifar.deferred.perplexity:.0f}
on CIFAR-10) at {combined_mse} reconstruction error ({mixture.deferred_dead_code.recon_mse:.2g} and
{cifar.deferred_dead_code.recon_mse:.2g}).
""")

# %% [markdown]
# *Is it the timing or the re-initialization?* The four arms that answer it, side by side: the baseline, early
# quantization with dead-code re-initialization, deferral, and deferral with re-initialization.

# %%
show(plots.timing_or_reinit(runs, ctx))

# %% [markdown]
# ## 3 · Over training: the main arms

# %%
show(plots.curves(runs, ctx))

# %% [markdown]
# ## 4 · Embeddings collapse: capacity with and without deferral
#
# The mixture encoder at width 4 (which collapses its embeddings in notebook 01), 64 and 256; CIFAR-10 with 16 and
# 64 channels (the runs of notebook 02); 3 seeds per point. Early quantization (baseline) against deferral
# (T_c = a third of the steps).

# %%
capacity = run_cases(fixes.capacity_cases(ctx), desc="capacity")
show(plots.capacity(capacity, ctx))
fixes.capacity_table(capacity)

# %% [markdown]
# **Paper (arXiv 2411.16550):** more capacity mitigates embeddings collapse.

# %% tags=["remove-input"]
say(fixes.capacity_facts(capacity, ctx), """
**Here (means over {seeds} seeds):** on the mixture, width {mixture.low.value} cuts the embeddings' effective
rank to {mixture.low.baseline.embedding_effective_rank:.1f} ({mixture.mid.baseline.embedding_effective_rank:.1f}
at width {mixture.mid.value}): embeddings collapse. The baseline then covers {mixture.low.baseline.coverage:%.0}
of the components; deferral still covers {mixture.low.deferred.coverage:%.1} but uses only
{mixture.low.deferred.utilization:%.0} of its codes and reconstructs about {mixture.mse_ratio:.0f} times worse
than at width {mixture.mid.value} (MSE {mixture.low.deferred.recon_mse:.3f} vs
{mixture.mid.deferred.recon_mse:.3f}). More width raises the rank ({mixture.high.rank:range .1f} at
{mixture.high.value}) and the baseline's coverage ({mixture.low.baseline.coverage:%.0} →
{mixture.high.baseline.coverage:%.0}), but deferral changes coverage {mixture.deferral_vs_width} than width does.
On CIFAR-10, {cifar.high.value} channels give a higher effective rank than {cifar.low.value}
({cifar.high.rank:range .1f} vs {cifar.low.rank:range .1f}) and {cifar.lower_mse} reconstruction error in both
arms. **{verdict}** that capacity counters embeddings collapse; deferral does not substitute for capacity, nor
capacity for deferral.
""")

# %% [markdown]
# ## Practical guidance, from the table above only

# %% tags=["remove-input"]
say(fixes.guidance_facts(runs, ctx), """
- Initializing the codebook from the encoder's outputs at step 0 (k-means, the common recipe) left
  {baseline_dead} dead ({mixture.early_kmeans.utilization:%.0} used on the mixture,
  {cifar.early_kmeans.utilization:%.0} on CIFAR-10) and the codebook at {baseline_spread:range .2f} of the
  embeddings' spread.
- Drawing the codebook from *trained* embeddings fixed it: a continuous phase of at least {mixture.needed} on the
  mixture, {cifar.needed} on CIFAR-10, then k-means or simply a random sample of embeddings.
  A random codebook at the switch did not work.
- Dead-code re-initialization from the current batch (vqlib's `dead_code_threshold`, or vector-quantize-pytorch's
  expiry) fixed usage just as well at these scales, at about the same reconstruction error
  ({cifar.early_dead_code.recon_mse:.3f} against deferral's {cifar.deferred.recon_mse:.3f} on CIFAR-10 for vqlib's
  version, which also left the codebook narrower than the embeddings). Combining it with deferral used
  {combined_use} with {combined_best} ({mixture.deferred_dead_code.perplexity:.0f} on the mixture,
  {cifar.deferred_dead_code.perplexity:.0f} on CIFAR-10).
- Cosine codes, a low-dimensional lookup, and a codebook loss instead of EMA did not fix the collapse on their own.
- A too-narrow encoder collapsed the embeddings whatever the schedule: widen it.
- All of this is at CPU scale ({mixture_steps:,} mixture steps, {image_steps:,} CIFAR-10 steps on
  {cifar_images:,} images); the paper scale (`make figures SCALE=paper`) has not been run here.
""")

# %%
fixes.headline_table(runs, decimals=4)

# %% [markdown]
# ## Claims against measurements
#
# Final evaluation: n values on each side (one per seed), the means, the effect (the ratio of the means, or their
# difference where a value is not positive) with an interval - a bootstrap 95 % interval over seeds from 5 seeds
# per side on, below that the min-max of the per-seed effects (the `interval` column says which) - and the verdict
# by the rule every notebook shares (`vqlib.studies.claims`): *agrees* when the whole interval lies beyond the 5 %
# equality band on the paper's side, *disagrees* when it lies on the band or on the other side, *inconclusive* when
# it straddles the band's edge.
# The column `one seed out` says whether leaving out any one seed leaves the verdict as it is (*changes*: the
# verdict is within noise; another machine's arithmetic or other seeds can read it differently).

# %% tags=["remove-input"]
say(fixes.evaluation_facts(runs, capacity, ctx), """
The mixture rows and CIFAR-10's deferred-versus-baseline rows have {main_seeds} seeds per side
({main_interval}). CIFAR-10's normal-init arm has {cifar_other_seeds} seeds
({claims.cifar_init.n}: the {claims.cifar_init.interval}), and the capacity rows {capacity_seeds} per side (the
{claims.cifar_capacity.interval}); a min-max over {capacity_seeds} seeds says little about the spread a reader
should expect. {every_row}
""")

# %%
claims = claims_table(fixes.claims(runs, capacity))
print(f"scale {ctx.name}; notebook time {time.perf_counter() - started:.0f} s (cached runs take milliseconds)")
claims.round(4)
