"""Notebook 05: diagnose tokenizers with :mod:`vqlib.diagnose` - vector-quantize-pytorch trained three ways on
the mixture, and the cached CIFAR-10 tokenizers of notebooks 02-03.

vector-quantize-pytorch's ``VectorQuantize`` trained as its README shows (a random codebook, EMA updates, from
step 0), with its own k-means on the first batch (``kmeans_init=True``), and deferred through vqlib's schedule
(continuous training first, k-means on the trained encoder at T_c), on the 10-component mixture of notebook 01
(D = 8, K = 32). The README example's decay 0.8 and commitment weight 1 are replaced by the studies' 0.99 and
0.25, so that the three runs differ from notebook 01's arms only in the layer.
"""

from __future__ import annotations

import dataclasses

from ..data import prepare
from ..diagnose import Report, diagnose
from ..experiments import RunResult, run
from . import mixture, settings
from .arms import ARMS
from .context import Context
from .core import Case
from .fixes import run_spec

__all__ = ["PEER_RUNS", "peer_cases", "tokenizer_specs", "tokenizers", "diagnose_run"]

#: (id, label) of the three vector-quantize-pytorch runs
PEER_RUNS = (("random", "VectorQuantize, random codebook (its README)"),
             ("kmeans", "VectorQuantize, kmeans_init=True"),
             ("deferred", "VectorQuantize, deferred (vqlib's schedule)"))


def peer_cases(ctx: Context) -> list[Case]:
    """The three vector-quantize-pytorch runs on notebook 01's mixture at D = 8, seed 0 (label: run)."""
    base = settings.mixture_base(ctx, mixture.STUDY_DIM)
    cases = []
    for run_id, label in PEER_RUNS:
        arm = ARMS["deferred" if run_id == "deferred" else "early_kmeans"]
        spec = arm(dataclasses.replace(base, seed=0))
        model = dataclasses.replace(spec.model, quantizer="vector-quantize-pytorch", dead_code_threshold=0.0,
                                    peer_kmeans_init=run_id == "kmeans")
        train = spec.train if run_id == "deferred" else dataclasses.replace(spec.train, codebook_init="own")
        cases.append(Case(dataclasses.replace(spec, model=model, train=train), {"run": run_id, "label": label}))
    return cases


def tokenizer_specs(ctx: Context) -> dict[str, object]:
    """The CIFAR-10 tokenizers of notebooks 02-03 (seed 0) by label: the baseline, deferred, and
    vector-quantize-pytorch with its k-means and dead-code expiry."""
    return {"CIFAR-10 early k-means (baseline)": run_spec("CIFAR-10", "early_kmeans", 0, ctx),
            "CIFAR-10 deferred": run_spec("CIFAR-10", "deferred", 0, ctx),
            "CIFAR-10 vector-quantize-pytorch (k-means, expiry)": run_spec("CIFAR-10", "vqtorch", 0, ctx)}


def diagnose_run(result: RunResult, batch_size: int = 256) -> Report:
    """:func:`vqlib.diagnose.diagnose` of a trained run over its evaluation set, streamed batch by batch,
    through its own quantizer (the layer's lookup space)."""
    model = result.model()
    data = prepare(result.spec.data)
    return diagnose(lambda x: model.vectors(model.encode(x)), model.quantizer, data.eval_batches(batch_size))


def tokenizers(ctx: Context) -> dict[str, RunResult]:
    """The cached tokenizers of :func:`tokenizer_specs` (trained here only if notebooks 02-03 have not run)."""
    return {label: run(spec) for label, spec in tokenizer_specs(ctx).items()}


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run notebook 05 diagnoses: the vector-quantize-pytorch runs and the CIFAR-10 tokenizers."""
    return {"vector-quantize-pytorch": peer_cases(ctx),
            "tokenizers": [Case(spec, {"label": label}) for label, spec in tokenizer_specs(ctx).items()]}
