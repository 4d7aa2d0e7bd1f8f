"""The diagnosis: every metric of a codebook against the embeddings it quantizes, in memory or streamed.

The embedding side is :class:`vqlib.metrics.StreamingStats` (a d x d scatter matrix, the sum of unit vectors,
and a sample that does not depend on the batch sizes); the codebook side adds, per batch, the usage counts,
the squared error to the nearest code and the sum of the rows assigned to each code (for the best code scale).
Every formula is :mod:`vqlib.metrics`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .. import metrics
from ..quantize import nearest_code
from .adapters import lookup_space
from .report import Report
from .verdict import verdict

__all__ = ["diagnose", "SAMPLE_SIZE"]

#: rows kept for the Euclidean embedding spread and the picture (the exact computation below this many rows)
SAMPLE_SIZE = 2048


class _Usage:
    """What the codebook side needs from the rows, added up batch by batch: usage counts [K], the summed squared
    distance to the nearest code, and the sum of the rows assigned to each code [K, d]."""

    def __init__(self, codebook: torch.Tensor) -> None:
        num_codes, dim = codebook.shape
        self.codebook = codebook
        self.counts = torch.zeros(num_codes, dtype=torch.long, device=codebook.device)
        self.error_sum = torch.zeros((), dtype=torch.float64, device=codebook.device)
        self.code_sums = torch.zeros(num_codes, dim, dtype=torch.float64, device=codebook.device)

    @torch.no_grad()
    def update(self, rows: torch.Tensor) -> None:
        indices, distances = nearest_code(rows, self.codebook)
        self.counts += torch.bincount(indices, minlength=self.codebook.shape[0])
        self.error_sum += distances.double().sum()
        self.code_sums.index_add_(0, indices, rows.double())


def _as_rows(x, width: int, channel_dim: int, what: str) -> torch.Tensor:
    """Rows [n, width] from a tensor whose axis ``channel_dim`` holds the vectors' coordinates."""
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{what} must be rows [N, d] (or [..., d] with the channels last), got shape "
                         f"{tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8)):
        raise ValueError(f"{what} must hold numbers, got dtype {x.dtype}")
    shape = tuple(x.shape)
    x = x.movedim(channel_dim, -1)
    if x.shape[-1] != width:
        hint = ""
        if x.ndim > 2 and width in x.shape[1:-1]:
            hint = f"; if the channels come first ([B, {width}, h, w]), pass channel_dim=1"
        raise ValueError(f"{what} have width {x.shape[-1]} (axis {channel_dim} of shape {shape}) but the codebook "
                         f"expects {width}: embeddings and codes must be in the same space{hint}")
    return _check_finite(x.reshape(-1, width).float(), what)


def _check_finite(rows: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(rows).all():
        bad = int((~torch.isfinite(rows)).any(1).sum())
        raise ValueError(f"{what} contain NaN or infinite values ({bad} of {rows.shape[0]} rows): remove them, or "
                         f"find where the model produces them, before diagnosing")
    return rows


def _check_codebook(codebook) -> torch.Tensor:
    codebook = torch.as_tensor(codebook).detach()
    if codebook.ndim != 2:
        raise ValueError(f"the codebook must be a [K, d] matrix, got shape {tuple(codebook.shape)} (a "
                         f"vector-quantize-pytorch layer with separate codebooks per head: pass the layer and a head "
                         f"via from_vector_quantize(layer, head=i))")
    if codebook.shape[0] < 2 or codebook.shape[1] < 1:
        raise ValueError(f"the codebook needs at least 2 codes of width >= 1, got shape {tuple(codebook.shape)}")
    codebook = codebook.float()
    if not torch.isfinite(codebook).all():
        raise ValueError("the codebook contains NaN or infinite values: the quantizer's training diverged")
    return codebook


@torch.no_grad()
def diagnose(embeddings, codebook, batches: Iterable | None = None, *, channel_dim: int = -1,
             sample_size: int = SAMPLE_SIZE, seed: int = 0, chunk_rows: int = 65_536,
             reference_components: int | None = None) -> Report:
    """Diagnose a codebook against the embeddings it quantizes; returns a :class:`~vqlib.diagnose.Report`.

    ``diagnose(embeddings, codebook)``: ``embeddings`` a tensor or array of rows [N, d] (or [..., d]).
    ``diagnose(encode, codebook, batches)``: streamed, ``encode(batch)`` is called on every item of
    ``batches`` (e.g. a DataLoader; a batch is passed as it comes, tuples included) under ``torch.no_grad()``
    and returns that batch's embeddings; memory stays bounded (see :mod:`vqlib.diagnose`). Put your model in
    ``eval()`` mode first.

    ``codebook``: a [K, d] tensor or array in the same space as the embeddings, or a quantizer (vqlib's, or
    vector-quantize-pytorch's ``VectorQuantize``), or a :class:`~vqlib.diagnose.LookupSpace`: then the
    embeddings are the quantizer's *inputs* and its own projection, normalization and heads are applied.
    ``channel_dim``: the axis of the embeddings holding the coordinates (-1; 1 for feature maps [B, d, h, w]).
    ``sample_size`` rows (chosen by ``seed``) give the Euclidean spread and the picture.
    ``reference_components``: the 99 %-components of a reference, a continuous autoencoder of the same width
    trained the same way without a quantizer; given, "embeddings collapse" is judged against it (at most
    ``REFERENCE_COMPONENTS_FRACTION_MAX`` of its directions) instead of against d (at most a quarter of d).
    """
    if reference_components is not None and not reference_components >= 1:
        raise ValueError(f"reference_components must be >= 1 (the reference's 99 %-components), got "
                         f"{reference_components!r}")
    space = None if isinstance(codebook, torch.Tensor | np.ndarray) else lookup_space(codebook)
    codes = _check_codebook(space.codebook if space else codebook)
    width = space.input_dim if space else codes.shape[1]
    if sample_size < 2:
        raise ValueError(f"sample_size must be >= 2, got {sample_size}")

    if callable(embeddings):
        if batches is None:
            raise ValueError("diagnose(encode, codebook, batches): an encode function needs the batches to run on")
        chunks = (_as_rows(embeddings(batch), width, channel_dim, f"encode(batch {i})")
                  for i, batch in enumerate(batches))
    elif batches is not None:
        raise ValueError("batches are only used with an encode function: diagnose(encode, codebook, batches); "
                         "for a tensor of embeddings call diagnose(embeddings, codebook)")
    else:
        chunks = _as_rows(embeddings, width, channel_dim, "the embeddings").split(chunk_rows)

    usage = stats = None
    for rows in chunks:
        if space is not None:
            rows = _check_finite(space.embed(rows).float(), "the quantizer's lookup rows (after its projection)")
        if rows.shape[0] == 0:
            continue
        if usage is None:
            usage = _Usage(codes.to(rows.device))
            # the number of rows is not known up front: the sample is the rows of smallest key, the same rows
            # whatever the batch sizes, so in memory and streamed agree
            stats = metrics.StreamingStats(None, codes.shape[1], max_points=sample_size, seed=seed,
                                           device=rows.device)
        usage.update(rows)
        stats.update(rows)
    if usage is None or stats.seen < 2:
        raise ValueError("no embedding rows to diagnose (an empty set or empty batches): at least 2 are needed")
    return _report(usage, stats, space.description if space else "a codebook tensor", reference_components)


def _report(usage: _Usage, stats: metrics.StreamingStats, description: str,
            reference_components: int | None = None) -> Report:
    """Every metric from the accumulated sums, the formulas of :mod:`vqlib.metrics`."""
    codebook = usage.codebook.cpu()
    num_codes, dim = codebook.shape
    n = stats.seen
    counts = usage.counts.cpu()
    cap = min(num_codes, n)
    error = float(usage.error_sum) / n
    embedding = stats.result()
    code = metrics.codebook_metrics_from_usage(counts.double() / n, codebook, error, embedding)
    variances = stats.spectrum()  # squared singular values of the centred rows
    total_variance = float(variances.sum())

    # best code scale: the s of the best fit z_i ~ a + s (e_k(i) - c) over a and s, the assignments k(i) held
    # fixed, with c = sum_k n_k e_k / N the mean of the quantized rows. The best a is the embeddings' mean m, so
    # s = sum_k (S_k - n_k m).(e_k - c) / sum_k n_k ||e_k - c||^2, S_k the sum of the rows assigned to code k.
    # For codes at their cells' means (k-means) c = m and s = 1; a codebook shrunk by a factor r about any
    # centre, at the data or beside it, gives about 1/r.
    weights = usage.counts.double()
    offsets = usage.codebook.double() - (weights @ usage.codebook.double()) / n
    toward_cells = float(((usage.code_sums - weights.unsqueeze(1) * stats.mean) * offsets).sum())
    code_weight = float((weights * offsets.pow(2).sum(1)).sum())
    best_scale = toward_cells / code_weight if code_weight > 0 else float("inf")

    values = {
        "rows": n, "num_codes": num_codes, "dim": dim,
        "utilization": code["utilization"],
        "utilization_of_cap": int((counts > 0).sum()) / cap,
        "dead_codes": code["dead_codes"],
        "perplexity": code["perplexity"],
    }
    values["perplexity_of_k"] = values["perplexity"] / num_codes
    values["perplexity_of_cap"] = values["perplexity"] / cap
    values.update({
        "code_euclidean_distance": code["code_euclidean_distance"],
        "embedding_euclidean_distance": embedding["embedding_euclidean_distance"],
        "code_cosine_distance": code["code_cosine_distance"],
        "embedding_cosine_distance": embedding["embedding_cosine_distance"],
        "shrinkage_euclidean": code["shrinkage_euclidean"],
        "shrinkage_cosine": code["shrinkage_cosine"],
        "shrinkage_rank": code["shrinkage_rank"],
        "code_effective_rank": code["code_effective_rank"],
        "embedding_effective_rank": embedding["embedding_effective_rank"],
        "code_components_99": code["code_components_99"],
        "embedding_components_99": embedding["embedding_components_99"],
        "reference_components_99": float("nan") if reference_components is None else float(reference_components),
        "embedding_std": embedding["embedding_std"],
        "best_code_scale": best_scale,
        "quantization_error": code["quantization_error"],
        "relative_quantization_error": error / (total_variance / n) if total_variance > 0 else float("nan"),
    })
    labels, reasons, notes = verdict(values)
    centred_codes = codebook.double() - codebook.double().mean(0)
    return Report(values=values, verdict=labels, reasons=reasons, notes=notes, counts=counts, codebook=codebook,
                  sample=stats.sample_rows().float(), code_singular_values=torch.linalg.svdvals(centred_codes),
                  embedding_singular_values=variances.sqrt(), description=description)
