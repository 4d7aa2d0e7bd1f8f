"""Diagnose anyone's vector quantizer: is its codebook collapsed, and why?

Three lines on your own model::

    from vqlib.diagnose import diagnose
    report = diagnose(embeddings, codebook)      # or diagnose(encode, codebook, loader): streamed
    print(report.summary()); report.plot("report.png")

``embeddings`` are encoder outputs in the codebook's space ([N, d], or any shape with the channels last);
``codebook`` is the [K, d] codebook, or the quantizer itself: vqlib's :class:`~vqlib.quantize.VectorQuantizer`
(and :class:`~vqlib.peer.PeerQuantizer`), or vector-quantize-pytorch's ``VectorQuantize``, in which case the
embeddings are the layer's *inputs* and the layer's own projection, cosine normalization and heads are applied
(:func:`from_vqlib`, :func:`from_vector_quantize`). Measure over a whole evaluation set, not a batch: usage and
perplexity over one batch of n rows are capped by n.

What it measures (each formula is :mod:`vqlib.metrics`'s, see :data:`MEANINGS` for one line on each):
usage counts over all rows (utilization, perplexity against K and against the cap min(K, N), dead codes),
code and embedding spread (mean pairwise Euclidean and cosine distance), the shrinkage ratios (code spread /
embedding spread), effective rank and 99 %-components of the codes and of the embeddings, the quantization
error, and the *best code scale* (see :data:`CODE_SCALE_MAX`).

Streaming (``diagnose(encode, codebook, batches)``) keeps memory bounded whatever the number of rows: usage
counts [K], per-code sums [K, d] and the error are accumulated; effective rank, 99 %-components and the
spread come from an accumulated float64 d x d scatter matrix; the cosine spread from the sum of the rows'
unit vectors (exact); the Euclidean spread and the picture from a fixed-size sample of ``sample_size``
(default 2,048) rows. The sample is "the rows with the smallest keys", a row's key being a hash of its
position in the stream and the seed, so it is the same whatever the batch sizes: the in-memory call (which
runs the same code over chunks) and any streaming of the same rows in the same order agree - counts exactly,
error and covariance metrics to rounding (~1e-12), the Euclidean spread exactly.

:class:`UsageTracker` keeps whole-epoch usage from inside a training loop. Its cost, measured with
``benchmarks/bench_tracker.py`` on this project's 2-core CPU machine (one thread, torch 2.13, the other core
busy): an update with the 4,096 indices of a step takes about 95 us, 0.07 % of that step (135 ms: an MLP VQ
autoencoder, K = 1024, batch 4,096). Not measured on a GPU, where the update never waits for the device.

Not supported (a clear error says so): vector-quantize-pytorch's residual, grouped and other multi-codebook
quantizers (``ResidualVQ``, ``GroupedResidualVQ``, ...; diagnose each of their ``layers`` on the residual it
receives), its codebook-free quantizers (FSQ, LFQ: there is no codebook to shrink), ``affine_param=True`` and
``vq_bridge`` (the codes are transformed before the lookup, so the stored codebook is not the one used), and
several heads with separate codebooks unless one head is chosen (``from_vector_quantize(layer, head=i)``).
Streaming diagnosis is per process: under torch.distributed each rank diagnoses what it sees (the
:class:`UsageTracker` does reduce over ranks).

The command line: ``python -m vqlib.diagnose --embeddings z.npy --codebook c.npy [--out report.png]``
(``.npy`` arrays or ``.pt`` files holding one tensor) prints the summary and writes the figure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import distributed, metrics
from .quantize import QuantizerLike, nearest_code

__all__ = ["diagnose", "Report", "LookupSpace", "from_vqlib", "from_vector_quantize", "lookup_space",
           "UsageTracker", "MEANINGS", "UTILIZATION_MIN", "PERPLEXITY_FRACTION_MIN", "SHRINKAGE_MIN",
           "CODE_SCALE_MAX", "EMBEDDING_COMPONENTS_FRACTION_MAX", "SAMPLE_SIZE", "main"]

# -- the verdict's thresholds -------------------------------------------------------------------------------
# Reference numbers are vqlib's own studies (figures/03_results.csv and notebooks 01-02, default scale): the
# early-quantized baselines against deferred quantization on the Gaussian mixture, CIFAR-10 and ImageNet.

#: Tokens collapse when fewer than this fraction of the codes that N rows could reach (min(K, N)) is used.
#: Collapsed baselines use 3-34 % of their codes (mixture 18 %, CIFAR-10 34 %, ImageNet 10 %, random-normal
#: init 0.4 %); deferred quantization 87-100 %. One half sits between the two with a wide margin on each side.
UTILIZATION_MIN = 0.5

#: Tokens also collapse when the perplexity is below this fraction of its cap min(K, N): codes are in use but
#: a few of them take most tokens. Baselines at K = 256: 0.07-0.16 (perplexity 19-41); deferred: 0.63-0.84.
PERPLEXITY_FRACTION_MIN = 0.2

#: The codebook has shrunk when the mean distance between codes is below this fraction of the mean distance
#: between embeddings (shrinkage ratio, Euclidean)... Baselines: 0.09-0.23; deferred: 0.92-1.32.
SHRINKAGE_MIN = 0.5

#: ... and, in addition, either the tokens collapsed or the used codes huddle inside the data they serve: the
#: *best code scale* exceeds this. That is the factor by which stretching the used codes about their centre
#: (moved onto the embeddings' mean) would lower the quantization error most, the assignments held fixed:
#: 1 for codes at their cells' means (k-means, and the used codes of an EMA codebook), about 1/r for codes
#: shrunk by a factor r. The extra condition keeps a healthy codebook of diffuse, high-dimensional embeddings
#: from being called shrunk: k-means' codes are the means of their cells, well inside the cloud (isotropic
#: Gaussian rows, d = 32, K = 32: spread ratio 0.42, tested), yet all are used and their best scale is 1.
#: 1.5 leaves room for codes that lag their cells' means while a codebook trains.
CODE_SCALE_MAX = 1.5

#: Embeddings collapse when they need at most this fraction of their d dimensions for 99 % of their
#: variance. Notebook 01's encoder of width 4 in front of a 16-dim latent (at most 4 directions, effective
#: rank 3.2) loses 60 % of the mixture's components in the baseline; wider encoders have effective ranks of
#: 9-15 of 16. The 99 %-components count every direction with noticeable variance, unlike the effective rank,
#: which is far below d for healthy real encoders too (CIFAR-10, d = 32: 8-10), so they are the safer test.
EMBEDDING_COMPONENTS_FRACTION_MAX = 0.25

#: rows kept for the Euclidean embedding spread and the picture (the exact computation below this many rows)
SAMPLE_SIZE = 2048

#: What each metric of a :class:`Report` means, in the order the table lists them.
MEANINGS = {
    "rows": "embedding rows measured (N)",
    "num_codes": "codebook size K",
    "dim": "width d of the space the codes are looked up in",
    "utilization": "fraction of the K codes chosen by at least one row",
    "utilization_of_cap": "codes used / min(K, N): utilization against the most that N rows can reach",
    "dead_codes": "codes no row chose",
    "perplexity": "exp(entropy of the usage): the number of equally used codes with the same usage entropy",
    "perplexity_of_k": "perplexity / K (1: every code used equally often)",
    "perplexity_of_cap": "perplexity / min(K, N): against its cap (a batch of n rows caps it at n)",
    "code_euclidean_distance": "mean distance between two codes (code spread)",
    "embedding_euclidean_distance": "mean distance between two embedding rows (over the sample)",
    "code_cosine_distance": "mean 1 - cos between two codes",
    "embedding_cosine_distance": "mean 1 - cos between two embedding rows",
    "shrinkage_euclidean": "code spread / embedding spread (distance); well below 1: codes in a smaller region",
    "shrinkage_cosine": "code cosine spread / embedding cosine spread",
    "shrinkage_rank": "code effective rank / embedding effective rank",
    "code_effective_rank": "exp(entropy of the codes' normalized singular values): directions the codes span",
    "embedding_effective_rank": "exp(entropy of the embeddings' normalized singular values): directions they span",
    "code_components_99": "principal components holding 99 % of the codes' variance",
    "embedding_components_99": "principal components holding 99 % of the embeddings' variance",
    "embedding_std": "square root of the embeddings' total variance (sum over dimensions)",
    "best_code_scale": "stretching the used codes about their centre by this factor lowers the error most "
                       "(1: codes at their cells' means, as k-means leaves them; >> 1: codes huddled inside the data)",
    "quantization_error": "mean squared distance from a row to its nearest code",
    "relative_quantization_error": "quantization error / the embeddings' variance (1: no better than one code "
                                   "at the mean)",
}


# -- where the codes are looked up --------------------------------------------------------------------------
class LookupSpace(NamedTuple):
    """How a quantizer looks its codes up: ``embed`` maps the quantizer's input vectors [n, input_dim] to
    lookup rows [m, d] (projection, normalization, heads), ``codebook`` [K, d] is the codebook as used there."""

    embed: Callable[[torch.Tensor], torch.Tensor]
    codebook: torch.Tensor
    input_dim: int
    description: str


def from_vqlib(quantizer: QuantizerLike) -> LookupSpace:
    """The lookup space of vqlib's :class:`~vqlib.quantize.VectorQuantizer` (its ``project_in`` for a
    low-dimensional lookup, its normalization for cosine codes) or of any :class:`~vqlib.quantize.QuantizerLike`
    such as :class:`~vqlib.peer.PeerQuantizer`."""
    if not isinstance(quantizer, QuantizerLike):
        raise TypeError(f"from_vqlib takes a vqlib quantizer (VectorQuantizer, PeerQuantizer), got "
                        f"{type(quantizer).__name__}")
    codebook = quantizer.codes().float()

    @torch.no_grad()
    def embed(rows: torch.Tensor) -> torch.Tensor:
        return quantizer.embed(rows.to(codebook.device)).float()

    details = [f"{quantizer.dim} -> {quantizer.code_dim} projection"] if quantizer.code_dim != quantizer.dim else []
    if getattr(quantizer, "cosine", False):
        details.append("cosine codes")
    description = f"vqlib {type(quantizer).__name__}" + (f" ({', '.join(details)})" if details else "")
    return LookupSpace(embed, codebook, int(quantizer.dim), description)


def from_vector_quantize(layer, head: int | None = None) -> LookupSpace:
    """The lookup space of vector-quantize-pytorch's ``VectorQuantize``: its ``project_in`` (when
    ``codebook_dim`` differs from ``dim``), its l2 normalization of inputs and codes (``use_cosine_sim=True``;
    the nearest unit code in distance is the one of largest cosine, the layer's choice), and its heads.

    Several heads sharing one codebook (``heads > 1``): every head's slice of a vector is one lookup row, all
    pooled (the layer's indices [..., heads] flattened); ``head=i`` keeps head i's rows only. Separate
    codebooks per head (``separate_codebook_per_head=True``): one head at a time, ``head`` is required.
    Unsupported variants raise (see the module's docstring). The layer is used as it is (no training step):
    put it in ``eval()`` mode, as its lookup in training mode may sample codes stochastically.
    """
    try:
        from vector_quantize_pytorch import VectorQuantize
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("from_vector_quantize needs the package vector-quantize-pytorch") from error
    if not isinstance(layer, VectorQuantize):
        raise TypeError(f"from_vector_quantize takes a vector_quantize_pytorch.VectorQuantize, got "
                        f"{type(layer).__name__}. Residual, grouped and other multi-codebook quantizers (ResidualVQ, "
                        f"GroupedResidualVQ, ...) are not supported: diagnose each VectorQuantize in their .layers "
                        f"on the residual it receives. FSQ and LFQ have no codebook to diagnose.")
    inner = layer._codebook
    if getattr(inner, "affine_param", False):
        raise ValueError("VectorQuantize(affine_param=True) is not supported: its codes are moved by running batch "
                         "statistics before the lookup, so the stored codebook is not the one used")
    if getattr(inner, "vq_bridge", None) is not None:
        raise ValueError("VectorQuantize(vq_bridge=...) is not supported: its codes pass through a network before "
                         "the lookup, so the stored codebook is not the one used")
    heads, separate = int(layer.heads), bool(layer.separate_codebook_per_head)
    if head is not None and not (isinstance(head, int) and 0 <= head < heads):
        raise ValueError(f"head must be an integer in [0, {heads}) for this layer (heads={heads}), got {head!r}")
    codebooks = inner.embed.detach().float()  # [codebooks, K, code_dim]: one, or one per head
    if separate and heads > 1 and head is None:
        raise ValueError(f"this VectorQuantize has a separate codebook per head (heads={heads}): diagnose one head "
                         f"at a time with from_vector_quantize(layer, head=i), i in 0..{heads - 1}")
    codebook = codebooks[head if separate and head is not None else 0]
    code_dim = codebook.shape[1]
    cosine = bool(layer.use_cosine_sim)
    if cosine:
        codebook = F.normalize(codebook, dim=-1)

    @torch.no_grad()
    def embed(rows: torch.Tensor) -> torch.Tensor:
        x = layer.project_in(rows.to(codebook.device)).float()
        x = x.reshape(-1, heads, code_dim)  # the layer splits a vector as 'b n (h d)': head-major
        x = x[:, head] if head is not None else x.reshape(-1, code_dim)
        return F.normalize(x, dim=-1) if cosine else x

    details = [f"{layer.dim} -> {code_dim * heads} projection"] if layer.has_projections else []
    if cosine:
        details.append("cosine similarity")
    if heads > 1:
        details.append(f"head {head} of {heads}" if head is not None else f"{heads} heads pooled")
    description = "vector-quantize-pytorch VectorQuantize" + (f" ({', '.join(details)})" if details else "")
    return LookupSpace(embed, codebook, int(layer.dim), description)


def lookup_space(quantizer) -> LookupSpace:
    """:func:`from_vqlib` or :func:`from_vector_quantize`, whichever fits ``quantizer``."""
    if isinstance(quantizer, LookupSpace):
        return quantizer
    if isinstance(quantizer, QuantizerLike):
        return from_vqlib(quantizer)
    if type(quantizer).__module__.startswith("vector_quantize_pytorch"):
        return from_vector_quantize(quantizer)
    raise TypeError(f"cannot diagnose a {type(quantizer).__name__}: pass a codebook tensor [K, d], a vqlib "
                    f"quantizer, a vector_quantize_pytorch.VectorQuantize, or a LookupSpace")


# -- accumulating over rows ---------------------------------------------------------------------------------
_GOLDEN, _MIX1, _MIX2 = (np.uint64(c) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Steele et al.'s splitmix64 finalizer on a uint64 array (wraps around, as intended)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _row_keys(first: int, count: int, seed: int) -> torch.Tensor:
    """A pseudo-random key for each row position first..first+count-1: a bijective hash of the position mixed
    with the seed, so distinct rows never tie and a row's key does not depend on how the rows were batched."""
    positions = np.arange(first, first + count, dtype=np.uint64)
    keys = _splitmix64(positions ^ _splitmix64(np.array([seed], dtype=np.uint64)))
    return torch.from_numpy((keys >> np.uint64(1)).astype(np.int64))  # 63 bits: non-negative as int64


class _Accumulator:
    """Everything :func:`diagnose` needs from the rows, added up batch by batch in bounded memory."""

    def __init__(self, codebook: torch.Tensor, sample_size: int, seed: int) -> None:
        self.codebook = codebook
        self.sample_size, self.seed = int(sample_size), int(seed)
        num_codes, dim = codebook.shape
        device = codebook.device
        self.rows = 0
        self.counts = torch.zeros(num_codes, dtype=torch.long, device=device)
        self.error_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.code_sums = torch.zeros(num_codes, dim, dtype=torch.float64, device=device)  # rows assigned to each
        # scatter of the rows about a shift (the first batch's mean: accurate when the data sit far from 0)
        self.shift: torch.Tensor | None = None
        self.linear = torch.zeros(dim, dtype=torch.float64, device=device)
        self.scatter = torch.zeros(dim, dim, dtype=torch.float64, device=device)
        self.unit_sum = torch.zeros(dim, dtype=torch.float64, device=device)
        self.nonzero = 0
        # the sample: the rows of smallest key so far, with their keys and positions
        self.sample = torch.zeros(0, dim, dtype=torch.float64, device=device)
        self.sample_keys = torch.zeros(0, dtype=torch.long, device=device)
        self.sample_positions = torch.zeros(0, dtype=torch.long, device=device)

    @torch.no_grad()
    def update(self, rows: torch.Tensor) -> None:
        indices, distances = nearest_code(rows, self.codebook)
        self.counts += torch.bincount(indices, minlength=self.codebook.shape[0])
        self.error_sum += distances.double().sum()
        x = rows.double()
        self.code_sums.index_add_(0, indices, x)
        if self.shift is None:
            self.shift = x.mean(0)
        centred = x - self.shift
        self.linear += centred.sum(0)
        self.scatter += centred.T @ centred
        units = F.normalize(x, dim=1)
        self.unit_sum += units.sum(0)
        self.nonzero += int((units.norm(dim=1) > 0).sum())

        keys = torch.cat([self.sample_keys, _row_keys(self.rows, x.shape[0], self.seed).to(x.device)])
        positions = torch.cat([self.sample_positions, torch.arange(self.rows, self.rows + x.shape[0],
                                                                   device=x.device)])
        candidates = torch.cat([self.sample, x])
        keep = torch.topk(keys, min(self.sample_size, keys.numel()), largest=False).indices
        self.sample, self.sample_keys, self.sample_positions = candidates[keep], keys[keep], positions[keep]
        self.rows += x.shape[0]

    def sample_in_order(self) -> torch.Tensor:
        """The sampled rows in the order they came (so with every row sampled, the rows themselves)."""
        return self.sample[torch.argsort(self.sample_positions)].cpu()


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


# -- the diagnosis ------------------------------------------------------------------------------------------
@torch.no_grad()
def diagnose(embeddings, codebook, batches: Iterable | None = None, *, channel_dim: int = -1,
             sample_size: int = SAMPLE_SIZE, seed: int = 0, chunk_rows: int = 65_536) -> Report:
    """Diagnose a codebook against the embeddings it quantizes; returns a :class:`Report`.

    ``diagnose(embeddings, codebook)``: ``embeddings`` a tensor or array of rows [N, d] (or [..., d]).
    ``diagnose(encode, codebook, batches)``: streamed, ``encode(batch)`` is called on every item of
    ``batches`` (e.g. a DataLoader; a batch is passed as it comes, tuples included) under ``torch.no_grad()``
    and returns that batch's embeddings; memory stays bounded (see the module's docstring). Put your model in
    ``eval()`` mode first.

    ``codebook``: a [K, d] tensor or array in the same space as the embeddings, or a quantizer (vqlib's, or
    vector-quantize-pytorch's ``VectorQuantize``), or a :class:`LookupSpace`: then the embeddings are the
    quantizer's *inputs* and its own projection, normalization and heads are applied.
    ``channel_dim``: the axis of the embeddings holding the coordinates (-1; 1 for feature maps [B, d, h, w]).
    ``sample_size`` rows (chosen by ``seed``) give the Euclidean spread and the picture.
    """
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

    accumulator = None
    for rows in chunks:
        if space is not None:
            rows = _check_finite(space.embed(rows).float(), "the quantizer's lookup rows (after its projection)")
        if rows.shape[0] == 0:
            continue
        if accumulator is None:
            accumulator = _Accumulator(codes.to(rows.device), sample_size, seed)
        accumulator.update(rows)
    if accumulator is None or accumulator.rows < 2:
        raise ValueError("no embedding rows to diagnose (an empty set or empty batches): at least 2 are needed")
    return _report(accumulator, space.description if space else "a codebook tensor")


def _report(acc: _Accumulator, description: str) -> Report:
    """Every metric from the accumulated sums, the formulas of :mod:`vqlib.metrics`."""
    codebook = acc.codebook.cpu()
    num_codes, dim = codebook.shape
    n = acc.rows
    counts = acc.counts.cpu()
    usage = counts.double() / n
    cap = min(num_codes, n)

    mean = acc.shift + acc.linear / n
    covariance = acc.scatter - torch.outer(acc.linear, acc.linear) / n  # scatter about the mean
    variances = torch.linalg.eigvalsh(covariance).clamp_min(0).flip(0).cpu()  # squared singular values
    total_variance = float(variances.sum())
    cos_sum = float(acc.unit_sum.pow(2).sum()) - acc.nonzero
    embedding = {
        "embedding_euclidean_distance": metrics.mean_pairwise_euclidean_distance(acc.sample_in_order(),
                                                                                 max_points=None),
        "embedding_cosine_distance": 1.0 - cos_sum / (n * (n - 1)),
        "embedding_effective_rank": metrics._effective_rank_of(variances.sqrt()),
        "embedding_components_99": metrics._components_of(variances, 0.99),
        "embedding_std": float(np.sqrt(total_variance / (n - 1))),
    }
    code = metrics._code_spread(codebook)

    # best code scale: the s of the best fit z_i ~ a + s (e_k(i) - c) over a and s, the assignments k(i) held
    # fixed, with c = sum_k n_k e_k / N the mean of the quantized rows. The best a is the embeddings' mean m, so
    # s = sum_k (S_k - n_k m).(e_k - c) / sum_k n_k ||e_k - c||^2, S_k the sum of the rows assigned to code k.
    # For codes at their cells' means (k-means) c = m and s = 1; a codebook shrunk by a factor r about any
    # centre, at the data or beside it, gives about 1/r.
    weights = acc.counts.double()
    offsets = acc.codebook.double() - (weights @ acc.codebook.double()) / n
    toward_cells = float(((acc.code_sums - weights.unsqueeze(1) * mean) * offsets).sum())
    code_weight = float((weights * offsets.pow(2).sum(1)).sum())
    best_scale = toward_cells / code_weight if code_weight > 0 else float("inf")

    error = float(acc.error_sum) / n
    values = {
        "rows": n, "num_codes": num_codes, "dim": dim,
        "utilization": metrics.utilization(usage),
        "utilization_of_cap": int((counts > 0).sum()) / cap,
        "dead_codes": metrics.dead_codes(usage),
        "perplexity": metrics.perplexity(usage),
    }
    values["perplexity_of_k"] = values["perplexity"] / num_codes
    values["perplexity_of_cap"] = values["perplexity"] / cap
    values.update({
        "code_euclidean_distance": code["euclidean"],
        "embedding_euclidean_distance": embedding["embedding_euclidean_distance"],
        "code_cosine_distance": code["cosine"],
        "embedding_cosine_distance": embedding["embedding_cosine_distance"],
        **metrics._shrinkage_from(code, embedding),
        "code_effective_rank": code["rank"],
        "embedding_effective_rank": embedding["embedding_effective_rank"],
        "code_components_99": metrics.components_for_variance(codebook),
        "embedding_components_99": embedding["embedding_components_99"],
        "embedding_std": embedding["embedding_std"],
        "best_code_scale": best_scale,
        "quantization_error": error,
        "relative_quantization_error": error / (total_variance / n) if total_variance > 0 else float("nan"),
    })
    verdict, reasons, notes = _verdict(values)
    centred_codes = codebook.double() - codebook.double().mean(0)
    return Report(values=values, verdict=verdict, reasons=reasons, notes=notes, counts=counts, codebook=codebook,
                  sample=acc.sample_in_order().float(),
                  code_singular_values=torch.linalg.svdvals(centred_codes),
                  embedding_singular_values=variances.sqrt(), description=description)


def _verdict(v: dict) -> tuple[list[str], list[str], list[str]]:
    """The verdict's labels, a reason for each check (passed or not), and notes on how far to trust it."""
    labels, reasons, notes = [], [], []
    cap = min(v["num_codes"], v["rows"])
    used = round(v["utilization_of_cap"] * cap)

    few_codes = v["utilization_of_cap"] < UTILIZATION_MIN
    concentrated = v["perplexity_of_cap"] < PERPLEXITY_FRACTION_MIN
    reach = f" of the {cap} that {v['rows']} rows can reach" if cap < v["num_codes"] else ""
    usage_text = (f"{used} of {v['num_codes']} codes used ({v['utilization_of_cap']:.0%}{reach}; collapse below "
                  f"{UTILIZATION_MIN:.0%}), perplexity {v['perplexity']:.1f} = {v['perplexity_of_cap']:.0%} of its "
                  f"cap min(K, N) = {cap} (collapse below {PERPLEXITY_FRACTION_MIN:.0%})")
    if few_codes or concentrated:
        labels.append("tokens collapse")
        reasons.append(f"tokens collapse: {usage_text}")
    else:
        reasons.append(f"usage is fine: {usage_text}")

    components, dim = v["embedding_components_99"], v["dim"]
    rank_text = (f"the embeddings need {components} of their {dim} dimensions for 99 % of their variance "
                 f"(effective rank {v['embedding_effective_rank']:.1f}; collapse at <= "
                 f"{EMBEDDING_COMPONENTS_FRACTION_MAX:.0%} of d = {EMBEDDING_COMPONENTS_FRACTION_MAX * dim:g})")
    if components <= EMBEDDING_COMPONENTS_FRACTION_MAX * dim:
        labels.append("embeddings collapse")
        reasons.append(f"embeddings collapse: {rank_text}")
    else:
        reasons.append(f"embeddings span their space: {rank_text}")

    ratio, scale = v["shrinkage_euclidean"], v["best_code_scale"]
    spread_text = (f"code spread / embedding spread = {ratio:.2f} (shrunk below {SHRINKAGE_MIN}), best code scale "
                   f"{scale:.2f} (inside the data above {CODE_SCALE_MAX})")
    if ratio < SHRINKAGE_MIN and (scale > CODE_SCALE_MAX or few_codes):
        labels.append("codebook shrinkage")
        why = ("the used codes huddle inside the data they serve" if scale > CODE_SCALE_MAX
               else "most codes are unused, left behind in a narrow region")
        reasons.append(f"codebook shrinkage: {spread_text}; {why}")
    elif ratio < SHRINKAGE_MIN:
        reasons.append(f"codebook narrower than the data but not shrunk: {spread_text}; the codes are used and sit "
                       f"at their cells' means, as k-means leaves them for diffuse high-dimensional embeddings")
    else:
        reasons.append(f"codebook as wide as the data: {spread_text}")
    if ratio > 2:
        notes.append(f"the codes spread {ratio:.1f} times as wide as the embeddings: many lie outside the data "
                     f"(e.g. an initialization at the wrong scale)")

    if v["rows"] < 5 * v["num_codes"]:
        notes.append(f"only {v['rows'] / v['num_codes']:.1f} rows per code: a rarely chosen code can go unseen, so "
                     f"usage is underestimated; diagnose more rows (at least 5 K = {5 * v['num_codes']})")
    return labels or ["healthy"], reasons, notes


@dataclass
class Report:
    """What :func:`diagnose` found: ``values`` (metric -> value, see :data:`MEANINGS`), the ``verdict`` (any of
    "tokens collapse", "embeddings collapse", "codebook shrinkage", or "healthy") with a ``reasons`` line per
    check, ``notes`` on how far to trust it, and what the picture needs: usage ``counts`` [K], the lookup
    ``codebook`` [K, d], the embedding ``sample`` [S, d] and the singular values of codes and embeddings."""

    values: dict
    verdict: list[str]
    reasons: list[str]
    notes: list[str]
    counts: torch.Tensor
    codebook: torch.Tensor
    sample: torch.Tensor
    code_singular_values: torch.Tensor
    embedding_singular_values: torch.Tensor
    description: str = ""

    def __getitem__(self, metric: str):
        return self.values[metric]

    def table(self):
        """A pandas DataFrame: one row per metric with its value and what it means."""
        import pandas as pd

        return pd.DataFrame({"metric": list(MEANINGS),
                             # object: counts stay integers beside the ratios
                             "value": pd.Series([self.values[name] for name in MEANINGS], dtype=object),
                             "meaning": list(MEANINGS.values())})

    def summary(self) -> str:
        """Plain text: the verdict, the reason for each check, and the key numbers."""
        v = self.values
        lines = [f"vqlib.diagnose: {v['rows']} embedding rows of width {v['dim']}, {v['num_codes']} codes "
                 f"({self.description})",
                 f"verdict: {', '.join(self.verdict)}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append(f"utilization {v['utilization']:.3f} ({v['dead_codes']} dead codes), perplexity "
                     f"{v['perplexity']:.1f} of K = {v['num_codes']}, shrinkage (distance / cosine / rank) "
                     f"{v['shrinkage_euclidean']:.2f} / {v['shrinkage_cosine']:.2f} / {v['shrinkage_rank']:.2f}, "
                     f"effective rank codes {v['code_effective_rank']:.1f} / embeddings "
                     f"{v['embedding_effective_rank']:.1f}, quantization error {v['quantization_error']:.4g} "
                     f"({v['relative_quantization_error']:.0%} of the embeddings' variance)")
        return "\n".join(lines)

    __str__ = summary

    def plot(self, path: str | Path | None = None):
        """One page: sorted usage with the Lorenz curve, a PCA view of the embeddings (the sample) with the
        codes on top, the singular-value spectra of codes and embeddings, and the shrinkage ratios. Returns the
        matplotlib Figure and writes it to ``path`` when given (format from the suffix)."""
        from .plotting import finish, plt, set_style

        with plt.rc_context():  # the house style for this figure only, the caller's settings left alone
            set_style()
            fig, axes = plt.subplots(2, 2, figsize=(10, 7.6))
            self._plot_usage(axes[0, 0])
            self._plot_pca(axes[0, 1])
            self._plot_spectra(axes[1, 0])
            self._plot_shrinkage(axes[1, 1])
            v = self.values
            finish(fig, title=f"verdict: {', '.join(self.verdict)}  ({self.description}; N = {v['rows']}, "
                              f"K = {v['num_codes']}, d = {v['dim']})")
            if path is not None:
                metadata = {"Software": None} if str(path).lower().endswith(".png") else None
                fig.savefig(path, metadata=metadata)
        return fig

    def _plot_usage(self, ax) -> None:
        k = self.counts.numel()
        share = np.sort(self.counts.double().numpy() / max(int(self.counts.sum()), 1))  # least used first
        x = np.arange(1, k + 1) / k
        ax.fill_between(x, share, step="pre", color="C0", alpha=0.5, lw=0)
        ax.step(x, share, where="pre", color="C0", lw=0.8)
        ax.set_xlabel("codes, least to most used (fraction of K)")
        ax.set_ylabel("share of the tokens per code", color="C0")
        ax.set_title(f"usage: {self.values['utilization']:.0%} of {k} codes used, perplexity "
                     f"{self.values['perplexity']:.1f}")
        lorenz = ax.twinx()
        lorenz.grid(False)
        lorenz.plot(np.concatenate([[0.0], x]), np.concatenate([[0.0], np.cumsum(share)]), color="C3",
                    label="Lorenz curve: tokens taken by the least used codes")
        lorenz.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1, label="equal use")
        lorenz.set_ylim(0, 1.02)
        lorenz.set_ylabel("cumulative share of the tokens (Lorenz curve)", color="C3")
        lorenz.legend(loc="upper left", fontsize=7)

    def _plot_pca(self, ax) -> None:
        basis = metrics.pca_basis(self.sample)
        points = metrics.project(self.sample, basis).numpy()
        codes = metrics.project(self.codebook, basis).numpy()
        used = (self.counts > 0).numpy()
        ax.scatter(points[:, 0], points[:, 1], s=3, color="0.6", alpha=0.4, lw=0,
                   label=f"embeddings ({self.sample.shape[0]} sampled)")
        if (~used).any():
            ax.scatter(codes[~used, 0], codes[~used, 1], s=18, marker="x", color="C3", lw=1, label="dead codes")
        ax.scatter(codes[used, 0], codes[used, 1], s=18, marker="x", color="C0", lw=1, label="used codes")
        ax.set_xlabel("first principal direction of the embeddings")
        ax.set_ylabel("second principal direction")
        ax.set_title("embeddings and codes (PCA of the embeddings)")
        ax.legend(loc="best", fontsize=7, framealpha=0.85)

    def _plot_spectra(self, ax) -> None:
        for values, label, color, rank in ((self.code_singular_values, "codes", "C0", "code_effective_rank"),
                                           (self.embedding_singular_values, "embeddings", "0.4",
                                            "embedding_effective_rank")):
            s = values.double().numpy()
            s = s / s.sum() if s.sum() > 0 else s
            s = s[s > 0]
            ax.plot(np.arange(1, s.size + 1), s, marker="o", ms=3, color=color,
                    label=f"{label} (effective rank {self.values[rank]:.1f})")
        ax.set_yscale("log")
        ax.set_xlabel("principal direction")
        ax.set_ylabel("singular value / sum of singular values")
        ax.set_title("spectra (flat: spread over many directions)")
        ax.legend(fontsize=7)

    def _plot_shrinkage(self, ax) -> None:
        names = [("shrinkage_euclidean", "distance"), ("shrinkage_cosine", "cosine distance"),
                 ("shrinkage_rank", "effective rank")]
        heights = [self.values[name] for name, _ in names]
        bars = ax.bar([label for _, label in names], heights, color=["C0", "C1", "C2"], width=0.6)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.axhline(1.0, color="0.4", lw=0.8, label="codes as spread as the embeddings")
        ax.axhline(SHRINKAGE_MIN, color="C3", ls="--", lw=0.8, label=f"shrinkage threshold ({SHRINKAGE_MIN})")
        ax.set_ylim(0, 1.4 * max(1.0, *heights))  # room for the labels and the legend above the bars
        ax.set_ylabel("codes / embeddings")
        ax.set_title("shrinkage ratios")
        ax.legend(fontsize=7, loc="upper left", ncol=2)


# -- usage during training ----------------------------------------------------------------------------------
class UsageTracker:
    """Whole-epoch code usage from inside any training loop.

    ``tracker.update(indices)`` after each step (indices of any integer dtype and shape, on any device);
    read ``utilization``, ``perplexity``, ``dead_codes`` or ``counts`` at the end of the epoch, then
    ``reset()``. Counts are kept on the indices' device and updated without a host synchronization (out-of-range
    indices are counted apart, on the device, and raise only when the usage is read), so an update costs a
    few small kernel launches. Indices equal to ``ignore_index`` (e.g. -1 for padding) are left out.

    Under torch.distributed call ``reduce()`` on every rank before reading: it sums the counts over the ranks
    (in place, a collective), so every rank then holds the whole epoch's usage; reduce once per ``reset()``.
    """

    def __init__(self, num_codes: int, ignore_index: int | None = None, device=None) -> None:
        if int(num_codes) != num_codes or num_codes < 1:
            raise ValueError(f"num_codes (K) must be an integer >= 1, got {num_codes!r}")
        self.num_codes = int(num_codes)
        self.ignore_index = ignore_index
        # bins 0..K-1: the codes; K: ignored indices; K+1: indices outside [0, K)
        self._bins = torch.zeros(self.num_codes + 2, dtype=torch.long, device=device)

    @torch.no_grad()
    def update(self, indices: torch.Tensor) -> None:
        """Count ``indices`` (a tensor of any shape)."""
        idx = indices.detach().reshape(-1).long()
        if idx.device != self._bins.device:
            self._bins = self._bins.to(idx.device)
        bins = torch.where((idx >= 0) & (idx < self.num_codes), idx, self.num_codes + 1)
        if self.ignore_index is not None:
            bins = torch.where(idx == self.ignore_index, self.num_codes, bins)
        # index_add_ rather than bincount: bincount on a GPU reads the maximum back to the host first
        self._bins.index_add_(0, bins, torch.ones_like(bins))

    def reset(self) -> None:
        """Start a new epoch."""
        self._bins.zero_()

    def reduce(self) -> UsageTracker:
        """Sum the counts over the ranks of torch.distributed (every rank must call it; a no-op in one process)."""
        distributed.all_reduce_sum(self._bins)
        return self

    @property
    def counts(self) -> torch.Tensor:
        """Usage counts per code [K] (int64, on the device of the indices)."""
        return self._bins[:self.num_codes].clone()

    @property
    def total(self) -> int:
        """Indices counted since the last reset (ignored ones left out)."""
        return int(self._bins[:self.num_codes].sum())

    def _usage(self) -> torch.Tensor:
        bins = self._bins.cpu()
        if bins[-1] > 0:
            raise ValueError(f"{int(bins[-1])} indices fell outside [0, {self.num_codes}): is num_codes right? "
                             f"(padding marked -1: UsageTracker(num_codes, ignore_index=-1))")
        counts = bins[:self.num_codes]
        if counts.sum() == 0:
            raise ValueError("no indices counted since the last reset: call update(indices) first")
        return counts.double() / counts.sum()

    @property
    def utilization(self) -> float:
        """Fraction of the K codes used at least once since the last reset."""
        return metrics.utilization(self._usage())

    @property
    def perplexity(self) -> float:
        """exp(entropy) of the usage since the last reset (at most min(K, total))."""
        return metrics.perplexity(self._usage())

    @property
    def dead_codes(self) -> int:
        """Codes not used since the last reset."""
        return metrics.dead_codes(self._usage())

    def __repr__(self) -> str:
        if self.total == 0:
            return f"UsageTracker(K={self.num_codes}, nothing counted)"
        return (f"UsageTracker(K={self.num_codes}, {self.total} indices: utilization {self.utilization:.3f}, "
                f"perplexity {self.perplexity:.1f}, {self.dead_codes} dead codes)")


# -- the command line ---------------------------------------------------------------------------------------
class _InputError(Exception):
    """A problem with the files given on the command line (reported without a traceback)."""


def _load_matrix(path: str, option: str) -> torch.Tensor:
    file = Path(path)
    if not file.is_file():
        raise _InputError(f"{option}: no such file {path!r}")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(file, allow_pickle=False)
            if not np.issubdtype(array.dtype, np.number):
                raise _InputError(f"{option}: {path} holds {array.dtype} values, not numbers")
            value = torch.from_numpy(np.asarray(array, dtype=np.float32))
        elif suffix in (".pt", ".pth"):
            value = torch.load(file, map_location="cpu", weights_only=True)
            if not isinstance(value, torch.Tensor):
                raise _InputError(f"{option}: {path} holds a {type(value).__name__}, not a tensor: save the tensor "
                                  f"itself, torch.save(tensor, {file.name!r})")
            if value.is_complex() or value.dtype == torch.bool:
                raise _InputError(f"{option}: {path} holds a {value.dtype} tensor, not real numbers")
            value = value.detach().float()
        else:
            raise _InputError(f"{option}: unknown file type {suffix or '(none)'!r} of {path}: use .npy "
                              f"(numpy.save) or .pt (torch.save of one tensor)")
    except _InputError:
        raise
    except Exception as error:  # numpy and torch raise many kinds for a truncated or foreign file
        raise _InputError(f"{option}: cannot read {path} ({type(error).__name__}: {error}); write it with "
                          f"numpy.save or torch.save") from error
    if value.ndim != 2:
        raise _InputError(f"{option}: {path} has shape {tuple(value.shape)}, expected a 2-D [rows, d] matrix: "
                          f"reshape it first, e.g. x.reshape(-1, x.shape[-1]) with the channels last")
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m vqlib.diagnose --embeddings z.npy --codebook c.npy [--out report.png]``; returns the exit
    status (0, or 2 with a message on stderr for bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m vqlib.diagnose",
        description="Diagnose a VQ codebook against the embeddings it quantizes: utilization, perplexity, "
                    "spread, shrinkage, effective rank, and a verdict (tokens collapse, embeddings collapse, "
                    "codebook shrinkage, or healthy).")
    parser.add_argument("--embeddings", required=True, help="encoder outputs [N, d] in the codebook's space "
                                                            "(.npy, or .pt holding one tensor)")
    parser.add_argument("--codebook", required=True, help="the codebook [K, d] (.npy or .pt)")
    parser.add_argument("--out", help="write the figure here (e.g. report.png or report.pdf)")
    parser.add_argument("--sample-size", type=int, default=SAMPLE_SIZE,
                        help=f"rows sampled for the Euclidean spread and the picture (default {SAMPLE_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="seed of that sample (default 0)")
    args = parser.parse_args(argv)
    try:
        embeddings = _load_matrix(args.embeddings, "--embeddings")
        codebook = _load_matrix(args.codebook, "--codebook")
        if embeddings.shape[1] != codebook.shape[1]:
            raise _InputError(f"the embeddings have width {embeddings.shape[1]} but the codes have width "
                              f"{codebook.shape[1]}: both must be in the space where the codes are looked up "
                              f"(after any projection)")
        report = diagnose(embeddings, codebook, sample_size=args.sample_size, seed=args.seed)
    except (_InputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    if args.out:
        try:
            report.plot(args.out)
        except (OSError, ValueError) as error:
            print(f"error: --out: cannot write the figure to {args.out} ({error})", file=sys.stderr)
            return 2
        print(f"figure written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
