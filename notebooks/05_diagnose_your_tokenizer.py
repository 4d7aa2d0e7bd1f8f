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
cifar_root = None  # a local CIFAR-10 copy; None: VQLIB_CIFAR10, else the official download

# %%
import pandas as pd

from vqlib.data import prepare
from vqlib.plotting import save_figure, show
from vqlib.studies import begin, diagnosis, run_cases

S = begin(scale)  # the scale, the house style, tables that show whole sentences


def verdicts(reports: dict) -> pd.DataFrame:
    """One row per tokenizer: the verdict and the numbers it rests on."""
    rows = []
    for label, report in reports.items():
        m = report.values
        rows.append({"tokenizer": label, "verdict": ", ".join(report.verdict),
                     "utilization": m["utilization"], "perplexity": m["perplexity"], "K": m["num_codes"],
                     "shrinkage (Euclid.)": m["shrinkage_euclidean"],
                     "embedding 99 %-components": m["embedding_components_99"], "d": m["dim"]})
    return pd.DataFrame(rows).set_index("tokenizer")


# %% [markdown]
# ## 1 · vector-quantize-pytorch, trained three ways
#
# The same MLP autoencoder, data (10 Gaussians in D = 8, K = 32) and step budget as notebook 01's usage study,
# with vector-quantize-pytorch's layer as the quantizer: its README's default (a random codebook, from step 0),
# its `kmeans_init=True` (k-means on the first batch, from step 0), and deferred through vqlib's schedule
# (`vqlib.studies.diagnosis`). Each is diagnosed on the evaluation set through the layer itself.

# %%
peer = run_cases(diagnosis.peer_cases(S), desc="vector-quantize-pytorch")
peer_reports = {case.labels["label"]: diagnosis.diagnose_run(result) for case, result in peer}
source = prepare(peer.results[0].spec.data).source
for run_id, label in diagnosis.PEER_RUNS[::2]:  # the README's default and the deferred run, one page each
    show(save_figure(peer_reports[label].plot(), f"05_vqtorch_{run_id}", f"{source}; seed 0", S.name))
verdicts(peer_reports).round(3)

# %%
print(peer_reports[diagnosis.PEER_RUNS[0][1]].summary())

# %% [markdown]
# ## 2 · The CIFAR-10 tokenizers of notebooks 02-03
#
# The baseline (k-means on the untrained encoder, from step 0), deferred quantization, and vector-quantize-pytorch
# with its k-means and dead-code expiry, seed 0, from the run cache, diagnosed on the held-out images.

# %%
tokenizers = diagnosis.tokenizers(S, cifar_root)
cifar_reports = {label: diagnosis.diagnose_run(result) for label, result in tokenizers.items()}
cifar_source = prepare(next(iter(tokenizers.values())).spec.data).source.split(",")[0]
for label, name in zip(cifar_reports, ("baseline", "deferred")):
    show(save_figure(cifar_reports[label].plot(), f"05_cifar_{name}", f"{cifar_source}; seed 0", S.name))
verdicts(cifar_reports).round(3)

# %%
print(cifar_reports[next(iter(cifar_reports))].summary())
