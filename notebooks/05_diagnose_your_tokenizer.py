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
# # 05 · Diagnose your tokenizer
#
# Has my codebook collapsed, and why? `vqlib.diagnose` answers for any tokenizer in three lines: give it the
# embeddings (or an encoder and batches, streamed with bounded memory) and the codebook (or the quantizer
# itself), and it measures the whole suite of the studies - usage, perplexity against K and against the batch
# cap, dead codes, spreads of codes and embeddings, their ratio (shrinkage), effective rank and 99 %-components,
# quantization error - and gives a verdict: **tokens collapse**, **embeddings collapse**, **codebook
# shrinkage** or **healthy**, each with its threshold (`vqlib.diagnose`, module constants).
#
# ```python
# from vqlib.diagnose import diagnose
# report = diagnose(encode, vq, loader)   # vq: vqlib's quantizer or vector_quantize_pytorch.VectorQuantize
# print(report.summary()); report.plot("report.png")
# ```
#
# Here it diagnoses vector-quantize-pytorch's `VectorQuantize` trained three ways on notebook 01's mixture, and
# the tokenizers that notebooks 02-03 trained on CIFAR-10 (from the run cache).

# %% tags=["parameters"]
import os

scale = os.environ.get("VQLIB_SCALE", "default")  # smoke | default | paper
# a local CIFAR-10 copy; None: the data loader reads VQLIB_CIFAR10 (and the figures' provenance names that
# variable), else the official download
cifar_root = None

# %%
from vqlib.plotting import diagnosis as plots
from vqlib.plotting import show
from vqlib.studies import BASELINE, DEFERRED, begin, diagnosis, run_cases, say

ctx = begin(scale, cifar_root)  # the study context, the house style, tables that show whole sentences
print(diagnosis.setting(ctx))

# %% [markdown]
# ## 1 · vector-quantize-pytorch, trained three ways
#
# The same MLP autoencoder, data (10 Gaussians in D = 8, K = 32) and step budget as notebook 01's usage study,
# with vector-quantize-pytorch's layer as the quantizer: its README's default (a random codebook, from step 0),
# its `kmeans_init=True` (k-means on the first batch, from step 0), and deferred through vqlib's schedule
# (`vqlib.studies.diagnosis`). All three keep the layer's default rotation trick (on by default in the locked `1.32`: not
# plain straight-through; notebook 06 runs it off too). Each is diagnosed on the evaluation set through the layer
# itself.

# %%
peer = diagnosis.diagnosed(run_cases(diagnosis.peer_cases(ctx), desc="vector-quantize-pytorch"))
show(plots.report_page(peer.one(run="random"), ctx))  # the README's default and the deferred run, one page each
show(plots.report_page(peer.one(run="deferred"), ctx))
diagnosis.verdicts(peer)

# %%
print(peer.one(run="random").report.summary())

# %% tags=["remove-input"]
say(diagnosis.peer_facts(peer, ctx), """
**Here ({scale} scale, seed {seed}):** trained from step 0, vector-quantize-pytorch's layer is diagnosed
**{random.verdict}** when its codebook starts random ({random.used} of {random.K} codes used, perplexity
{random.perplexity:.1f}) and **{kmeans.verdict}** when it starts from k-means on the first batch ({kmeans.used} of
{kmeans.K}, perplexity {kmeans.perplexity:.1f}): `kmeans_init=True` {kmeans_init}, because the first batch comes
from the untrained encoder - the paper's point, seen in someone else's layer. Deferred through vqlib's schedule,
the same layer uses {deferred.used_words} codes (perplexity {deferred.perplexity:.1f}) and its codebook is
{deferred.as_wide} the embeddings (spread ratio {deferred.shrinkage:.2f} against {early.shrinkage:range .2f}):
**{deferred.verdict}**. The early runs' codes are {early.shrunk} by the diagnosis's rule (spread ratio
{early.shrinkage:range .2f} against the threshold {shrinkage_min}, best code scale {early.best_code_scale:range .2f}
against {code_scale_max}); where they are not, their used codes sit on the data: what they lack is codes on the
other modes.
""")

# %% [markdown]
# ## 2 · The CIFAR-10 tokenizers of notebooks 02-03
#
# The baseline (k-means on the untrained encoder, from step 0), deferred quantization, and vector-quantize-pytorch
# with its k-means and dead-code expiry, seed 0, from the run cache, diagnosed on the held-out images.

# %%
reference = run_cases(diagnosis.reference_cases(ctx), desc="continuous reference")
cifar = diagnosis.diagnosed(run_cases(diagnosis.tokenizer_cases(ctx), desc="CIFAR-10 tokenizers"), reference)
show(plots.report_page(cifar.one(arm=BASELINE), ctx))
show(plots.report_page(cifar.one(arm=DEFERRED), ctx))
diagnosis.verdicts(cifar)

# %%
print(cifar.one(arm=BASELINE).report.summary())

# %% tags=["remove-input"]
say(diagnosis.tokenizer_facts(cifar, reference), """
**Here (seed {seed}):** the baseline shows {baseline.failures} (**{baseline.verdict}**):
{baseline.used} of {baseline.K} codes used (perplexity {baseline.perplexity:.0f}), its codebook
{baseline.as_wide} the embeddings ({baseline.shrinkage:.2f}), and embeddings that need
{baseline.components} of their {baseline.d} dimensions for 99 % of their variance. Deferral is diagnosed
**{deferred.verdict}**: it {deferred_fixes} ({deferred.utilization:%.0} used, perplexity {deferred.perplexity:.0f},
spread ratio {deferred.shrinkage:.2f}), and its embeddings need {deferred.components} of {deferred.d} dimensions -
this small tokenizer ({channels} channels, {res_blocks}, {steps} steps) {regime} the embeddings collapse regime of notebook
02's capacity sweep{whatever_the_schedule}. vector-quantize-pytorch with its k-means and dead-code expiry is
diagnosed **{vqtorch.verdict}** ({vqtorch.used_words} codes, perplexity {vqtorch.perplexity:.0f}, ratio
{vqtorch.shrinkage:.2f}) and its embeddings span {vqtorch.components} dimensions: its expiry keeps re-seeding codes
from the current batch, which keeps {vqtorch_in_use} in use; why its encoder {vqtorch_spread} is not examined here.
*Calibrated:* "embeddings collapse" is judged here against a continuous autoencoder of the same width, trained the
same way with the quantizer never switched on, whose embeddings need {reference.components} of {baseline.d}
dimensions for 99 % of their variance (effective rank {reference.rank:.1f}); a tokenizer's embeddings collapse when
they need at most {reference_fraction:%.0} of that ({reference.limit:g}). Without such a reference `vqlib.diagnose`
falls back on a rule of thumb (at most {components_max} of d), which {fallback}.
""")
