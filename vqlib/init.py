"""Codebook initializers.

Each returns a float32 tensor [K, d]. Initializers that need embeddings take them as [N, d] in the
quantizer's lookup space (``Quantizer.embed``). All randomness comes from the ``generator`` passed
in, so a seed fixes the codebook.

The paper's two arms differ only in *which* embeddings k-means sees: those of the untrained encoder at
step 0 (early quantization, the baseline) or those of the trained encoder at the switch (deferred).
"""

from __future__ import annotations

import torch

from .quantizers.base import nearest_code

__all__ = ["INITIALIZERS", "random_normal", "matched_normal", "uniform", "sample_embeddings", "kmeans",
           "make_codebook"]

#: initializer name -> whether it needs embeddings. "own" keeps the quantizer's own initialization, for a kind
#: that has one (``Quantizer.own_init``; the vector-quantize-pytorch layer: k-means on its first training batch).
INITIALIZERS = {"normal": False, "uniform": False, "sample": True, "kmeans": True, "own": False,
                "matched_normal": True}


def _check_size(num_codes: int, dim: int) -> None:
    if int(num_codes) != num_codes or num_codes < 1:
        raise ValueError(f"num_codes (K) must be an integer >= 1, got {num_codes!r}")
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")


def random_normal(num_codes: int, dim: int, scale: float = 1.0, generator: torch.Generator | None = None):
    """Codes drawn i.i.d. from N(0, scale^2 I)."""
    _check_size(num_codes, dim)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    return torch.randn(num_codes, dim, generator=generator) * scale


def uniform(num_codes: int, dim: int, generator: torch.Generator | None = None):
    """Codes drawn i.i.d. from U(-1/K, 1/K), the default of many VQ-VAE implementations."""
    _check_size(num_codes, dim)
    return (torch.rand(num_codes, dim, generator=generator) * 2.0 - 1.0) / num_codes


def _check_embeddings(embeddings: torch.Tensor) -> torch.Tensor:
    if embeddings is None or embeddings.ndim != 2 or embeddings.shape[0] < 1:
        shape = None if embeddings is None else tuple(embeddings.shape)
        raise ValueError(f"embeddings must be a non-empty [N, d] tensor, got {shape}")
    return embeddings.detach().float()


def sample_embeddings(embeddings: torch.Tensor, num_codes: int, generator: torch.Generator | None = None):
    """K embeddings picked at random (without replacement when N >= K, with replacement otherwise)."""
    embeddings = _check_embeddings(embeddings)
    _check_size(num_codes, embeddings.shape[1])
    n = embeddings.shape[0]
    if n >= num_codes:
        pick = torch.randperm(n, generator=generator)[:num_codes]
    else:
        pick = torch.randint(0, n, (num_codes,), generator=generator)
    return embeddings[pick].clone()


def matched_normal(embeddings: torch.Tensor, num_codes: int, generator: torch.Generator | None = None):
    """Codes drawn from the normal distribution with the embeddings' mean and covariance: as random as
    :func:`random_normal`, but exactly as spread as the embeddings in every direction. Separates "the codebook is
    random" from "the codebook has the wrong scale" (N(0, I) in d = 32 is several times wider than a CIFAR-10
    encoder's outputs)."""
    embeddings = _check_embeddings(embeddings).double()
    _check_size(num_codes, embeddings.shape[1])
    mean = embeddings.mean(0)
    centred = embeddings - mean
    covariance = centred.T @ centred / max(embeddings.shape[0] - 1, 1)
    # a square root of the covariance that exists for a singular one too (fewer embeddings than dimensions, or
    # embeddings confined to a subspace): eigenvalues below zero by rounding are taken as zero
    values, vectors = torch.linalg.eigh(covariance)
    root = vectors * values.clamp_min(0.0).sqrt()
    draws = torch.randn(num_codes, embeddings.shape[1], generator=generator).double()
    return (mean + draws @ root.T).float()


def kmeans(embeddings: torch.Tensor, num_codes: int, iters: int = 20, generator: torch.Generator | None = None,
           chunk_size: int = 8192) -> torch.Tensor:
    """Lloyd's k-means on ``embeddings`` [N, d] with K = ``num_codes`` centroids.

    Centroids start at K distinct random embeddings (k-means++ would cost K passes over the data, too slow
    for K in the thousands). An empty cluster is re-seeded at a random embedding, so all K centroids stay
    in the data. With N < K the extra centroids repeat data points: the codebook cannot carry more
    distinct vectors than the data has.
    """
    embeddings = _check_embeddings(embeddings)
    _check_size(num_codes, embeddings.shape[1])
    if int(iters) != iters or iters < 0:
        raise ValueError(f"iters must be an integer >= 0, got {iters!r}")
    n, dim = embeddings.shape
    centroids = sample_embeddings(embeddings, num_codes, generator)
    for _ in range(int(iters)):
        assign, _ = nearest_code(embeddings, centroids, chunk_size)
        counts = torch.bincount(assign, minlength=num_codes).float()
        sums = torch.zeros(num_codes, dim).index_add_(0, assign, embeddings)
        empty = counts == 0
        centroids = torch.where(empty.unsqueeze(1), centroids, sums / counts.clamp_min(1.0).unsqueeze(1))
        if empty.any():
            centroids[empty] = embeddings[torch.randint(0, n, (int(empty.sum()),), generator=generator)]
    return centroids


def make_codebook(name: str, num_codes: int, dim: int, *, embeddings: torch.Tensor | None = None,
                  scale: float = 1.0, kmeans_iters: int = 20, generator: torch.Generator | None = None):
    """Build a codebook by initializer name: one of ``INITIALIZERS`` (normal, uniform, sample, kmeans,
    matched_normal)."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown codebook initializer {name!r}; choose one of {sorted(INITIALIZERS)}")
    if INITIALIZERS[name] and embeddings is None:
        raise ValueError(f"initializer {name!r} needs embeddings")
    if embeddings is not None and INITIALIZERS[name] and embeddings.shape[1] != dim:
        raise ValueError(f"embeddings have dimension {embeddings.shape[1]}, the codebook needs {dim}")
    if name == "normal":
        return random_normal(num_codes, dim, scale, generator)
    if name == "uniform":
        return uniform(num_codes, dim, generator)
    if name == "own":
        raise ValueError("'own' keeps the quantizer's own initialization: there is no codebook to make")
    if name == "sample":
        return sample_embeddings(embeddings, num_codes, generator)
    if name == "matched_normal":
        return matched_normal(embeddings, num_codes, generator)
    return kmeans(embeddings, num_codes, kmeans_iters, generator)
