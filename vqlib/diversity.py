"""Diversity and quality of generated samples: token-space, pixel-space and feature-space measures.

Every function is a plain function stating its formula. Notation: N samples; token maps t_i [h, w] over
K codes; images x_i; feature vectors f_i (e.g. from :func:`vqlib.features.extract_features`).

- token space: :func:`token_histogram_entropy`, :func:`distinct_codes_per_sample`, :func:`distinct_map_fraction`;
- pixel space: :func:`mean_pairwise_pixel_distance` (the paper's diversity measure);
- feature space: :func:`frechet_distance` (FID's formula, on whatever features are passed),
  :func:`precision_recall` (Kynkaanniemi et al. 2019), :func:`vendi_score` (Friedman & Dieng 2023).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import code_usage, mean_pairwise_euclidean_distance

__all__ = [
    "standardize", "median_distance", "token_histogram_entropy", "distinct_codes_per_sample",
    "distinct_map_fraction", "token_diversity", "mean_pairwise_pixel_distance", "frechet_distance",
    "precision_recall", "vendi_score", "PIXEL_SCALES",
]

PIXEL_SCALES = ("0-255", "0-1", "raw")


# -- token space --------------------------------------------------------------------------------------------
def _check_maps(tokens, name: str) -> torch.Tensor:
    tokens = torch.as_tensor(tokens)
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.is_complex():
        raise ValueError(f"{name} needs integer token indices, got dtype {tokens.dtype}")
    if tokens.ndim < 2 or tokens.shape[0] < 1 or tokens[0].numel() < 1:
        raise ValueError(f"{name} needs token maps [N, ...] (e.g. [N, h, w]) with N >= 1 and at least one "
                         f"token per map, got shape {tuple(tokens.shape)}")
    return tokens.long().flatten(1)


def token_histogram_entropy(tokens: torch.Tensor, num_codes: int) -> float:
    """Entropy in nats of the pooled token histogram: H = -sum_k p_k log p_k with p_k = (occurrences of
    code k in all maps of all samples) / (N h w). 0 when one code fills every map, log K at most."""
    flat = _check_maps(tokens, "token_histogram_entropy")
    p = code_usage(flat, num_codes)  # validates the range [0, num_codes)
    nz = p[p > 0]
    return float(-(nz * nz.log()).sum())


def distinct_codes_per_sample(tokens: torch.Tensor) -> float:
    """Mean over samples of the number of distinct codes in the sample's map: (1/N) sum_i |set(t_i)|."""
    flat = _check_maps(tokens, "distinct_codes_per_sample")
    ordered = flat.sort(dim=1).values
    distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(1)
    return float(distinct.double().mean())


def distinct_map_fraction(tokens: torch.Tensor) -> float:
    """Number of distinct whole token maps / number of maps: 1 when no two samples share a map, 1/N when all
    N maps are the same (mode collapse or memorized samples show up here)."""
    flat = _check_maps(tokens, "distinct_map_fraction")
    return torch.unique(flat, dim=0).shape[0] / flat.shape[0]


def token_diversity(tokens: torch.Tensor, num_codes: int) -> dict[str, float]:
    """The three token measures as a dict, plus the perplexity exp(entropy) of the pooled histogram."""
    entropy = token_histogram_entropy(tokens, num_codes)
    return {"token_entropy": entropy, "token_perplexity": math.exp(entropy),
            "distinct_codes_per_sample": distinct_codes_per_sample(tokens),
            "distinct_map_fraction": distinct_map_fraction(tokens)}


# -- pixel space --------------------------------------------------------------------------------------------
def mean_pairwise_pixel_distance(images: torch.Tensor, scale: str = "0-255", max_points: int | None = 4096,
                                 seed: int = 0) -> float:
    """Mean over pairs i != j of the Euclidean (L2) distance ||x_i - x_j||_2 between flattened images
    (all channels and pixels): the paper's sample-diversity measure.

    The value depends on the pixel scale, which the caller chooses with ``scale``:

    - ``"0-255"`` (default): distances on the 0..255 pixel scale. Float images are taken in this library's
      convention [-1, 1] and mapped by (x + 1) * 127.5 (values outside [-1, 1] raise: pass a ``scale`` that
      matches); uint8 images are already on 0..255 and are used as they are.
    - ``"0-1"``: floats in [-1, 1] mapped by (x + 1) / 2 (uint8 by x / 255).
    - ``"raw"``: the values as given, whatever their scale.

    The paper does not state its scale. Its values (about 70-80 at 128x128x3) fit L2 distances on the 0..1
    scale (sqrt(49152) x an RMS pixel difference of ~0.34) rather than on 0..255, so compare only within one
    scale and one resolution. Exact for N <= ``max_points``; above it, over a fixed seeded random subset of
    ``max_points`` samples (:func:`vqlib.metrics.mean_pairwise_euclidean_distance`).
    """
    if scale not in PIXEL_SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {PIXEL_SCALES}")
    images = torch.as_tensor(images)
    if images.ndim < 2 or images.shape[0] < 2:
        raise ValueError(f"mean_pairwise_pixel_distance needs images [N, ...] with N >= 2, got shape "
                         f"{tuple(images.shape)}")
    x = images.detach().flatten(1)
    if x.dtype == torch.uint8:
        x = x.double() / 255.0 if scale == "0-1" else x.double()
    else:
        x = x.double()
        if not bool(torch.isfinite(x).all()):
            raise ValueError("mean_pairwise_pixel_distance: images contain NaN or infinite values")
        if scale != "raw":
            lo, hi = float(x.min()), float(x.max())
            if lo < -1.0 - 1e-4 or hi > 1.0 + 1e-4:
                raise ValueError(f"scale={scale!r} expects float images in [-1, 1], got values in [{lo:.4g}, "
                                 f"{hi:.4g}]; clamp them, or pass scale='raw' for values already on the "
                                 "scale you want")
            x = (x + 1.0) * (127.5 if scale == "0-255" else 0.5)
    return mean_pairwise_euclidean_distance(x, max_points=max_points, seed=seed)


# -- feature space ------------------------------------------------------------------------------------------
def _check_features(x, name: str, min_rows: int = 2) -> torch.Tensor:
    x = torch.as_tensor(x).detach()
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(f"{name} must be a feature matrix [N, d] with N >= {min_rows}, got shape {tuple(x.shape)}")
    x = x.double()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(s)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the formula of FID):

    d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}),

    with S the unbiased covariance (divisor N - 1, as numpy.cov). Computed in float64 without scipy:
    Tr (S_a S_b)^{1/2} = sum_i sqrt(lambda_i) with lambda_i the eigenvalues of the symmetric PSD matrix
    S_a^{1/2} S_b S_a^{1/2} (similar to S_a S_b), negative rounding eigenvalues clipped to 0. Zero for
    identical sets (up to rounding; tiny negative totals are clipped to 0). With features from
    :mod:`vqlib.features` this is *not* FID (which uses Inception-v3 features): compare only values computed
    with the same feature extractor.
    """
    a = _check_features(feats_a, "feats_a")
    b = _check_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a and feats_b must have the same feature dimension, got {a.shape[1]} and "
                         f"{b.shape[1]}")
    a, b = a.numpy(), b.numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(s_a)
    middle = root_a @ s_b @ root_a
    middle = (middle + middle.T) / 2.0
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    radii = torch.empty(x.shape[0], dtype=x.dtype)
    for start in range(0, x.shape[0], chunk_size):
        d = torch.cdist(x[start:start + chunk_size], x)
        # The k+1-th smallest distance in the row skips the point itself (distance 0).
        radii[start:start + chunk_size] = d.kthvalue(k + 1, dim=1).values
    return radii


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk_size: int,
            tolerance: float) -> torch.Tensor:
    inside = torch.empty(points.shape[0], dtype=torch.bool)
    bound = radii.unsqueeze(0) + tolerance
    for start in range(0, points.shape[0], chunk_size):
        d = torch.cdist(points[start:start + chunk_size], centres)
        inside[start:start + chunk_size] = (d <= bound).any(1)
    return inside


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     chunk_size: int = 1024) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-nearest-neighbour manifolds.

    manifold(X) = union over x in X of the ball B(x, r_k(x)), r_k(x) = distance from x to its k-th nearest
    neighbour in X other than itself;
    precision = (1/|F|) sum_{f in F} [f in manifold(R)]  (how many fakes look real: quality);
    recall    = (1/|R|) sum_{r in R} [r in manifold(F)]  (how much of the real data the fakes cover).
    Euclidean distances in float64, evaluated ``chunk_size`` rows at a time (distances within a rounding
    tolerance of 1e-7 x the largest feature norm count as equal). Returns
    {"precision": ..., "recall": ...}.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    real = _check_features(real_feats, "real_feats", min_rows=k + 1)
    fake = _check_features(fake_feats, "fake_feats", min_rows=k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_feats and fake_feats must have the same feature dimension, got {real.shape[1]} "
                         f"and {fake.shape[1]}")
    # cdist's matrix-product path leaves ~1e-8 x |f| of rounding in the distance of equal points: treat
    # distances within 1e-7 x the largest feature norm as equal (a duplicate lies inside a radius-0 ball).
    tolerance = 1e-7 * float(torch.cat([real, fake]).norm(dim=1).max())
    real_radii = _kth_neighbour_radii(real, k, chunk_size)
    fake_radii = _kth_neighbour_radii(fake, k, chunk_size)
    precision = float(_inside(fake, real, real_radii, chunk_size, tolerance).double().mean())
    recall = float(_inside(real, fake, fake_radii, chunk_size, tolerance).double().mean())
    return {"precision": precision, "recall": recall}


def vendi_score(feats: torch.Tensor, kernel: str = "cosine", bandwidth: float | None = None) -> float:
    """Vendi score (Friedman & Dieng 2023): VS = exp(-sum_i lambda_i log lambda_i), lambda_i the eigenvalues
    of K / n for an n x n similarity matrix K with K_ii = 1 (so the lambda_i sum to 1): n for n mutually
    dissimilar samples, 1 for n identical samples - the effective number of distinct samples.

    ``kernel="cosine"``: K_ij = cos(f_i, f_j). On non-negative features (ReLU outputs) every cosine is
    positive and the score saturates near a few units whatever the samples; prefer
    ``kernel="rbf"``: K_ij = exp(-||f_i - f_j||^2 / (2 bandwidth^2)) on standardized features
    (:func:`standardize`), with a stated ``bandwidth`` (:func:`median_distance` of the reference set's rows).
    For the cosine kernel, K = X X^T shares its non-zero eigenvalues with X^T X (d x d), used when d < n.
    """
    x = _check_features(feats, "feats", min_rows=1)
    if kernel == "cosine":
        norms = x.norm(dim=1)
        if bool((norms == 0).any()):
            raise ValueError("vendi_score: cosine similarity is undefined for all-zero feature rows")
        x = F.normalize(x, dim=1)
        n, d = x.shape
        gram = x.T @ x if d < n else x @ x.T
    elif kernel == "rbf":
        if bandwidth is None or not bandwidth > 0:
            raise ValueError(f"vendi_score: the rbf kernel needs a bandwidth > 0, got {bandwidth!r}")
        n = x.shape[0]
        gram = torch.exp(-torch.cdist(x, x).pow(2) / (2 * bandwidth**2))
    else:
        raise ValueError(f"unknown kernel {kernel!r}; choose 'cosine' or 'rbf'")
    lam = torch.linalg.eigvalsh(gram / n).clamp_min(0.0)
    lam = lam[lam > 0]
    lam = lam / lam.sum()  # exactly 1 in theory; removes rounding
    return float(torch.exp(-(lam * lam.log()).sum()))


def standardize(feats: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``feats`` centred and scaled per dimension by the mean and standard deviation of ``reference`` (constant
    dimensions of the reference are only centred)."""
    x, ref = _check_features(feats, "feats", min_rows=1), _check_features(reference, "reference")
    std = ref.std(0)
    return (x - ref.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))


def median_distance(feats: torch.Tensor) -> float:
    """Median Euclidean distance between distinct rows: the usual bandwidth of an RBF kernel on them."""
    x = _check_features(feats, "feats")
    d = torch.cdist(x, x)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median())
