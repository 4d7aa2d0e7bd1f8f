"""Collapse metrics: the diagnostic suite.

Every function takes whole-evaluation-set quantities (usage over all evaluation embeddings, never one
batch: batch perplexity is capped by the batch size) and states its formula. Notation: K codes e_k,
N embeddings z_i, usage p_k = #{i : nearest code of z_i is k} / N.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .quantize import nearest_code

__all__ = [
    "code_usage", "utilization", "perplexity", "dead_codes", "mean_pairwise_cosine_distance",
    "mean_pairwise_euclidean_distance", "effective_rank", "components_for_variance", "quantization_error",
    "component_coverage", "reconstruction_coverage", "shrinkage", "codebook_metrics",
    "embedding_metrics", "pca_basis", "project", "StreamingStats", "codebook_metrics_from_usage",
    "code_component_table", "coverage_from_table", "reconstruction_hits", "coverage_from_hits",
]


def code_usage(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """p_k = (number of embeddings assigned to code k) / N, a float64 vector of length K summing to 1."""
    indices = torch.as_tensor(indices).flatten().long()
    if indices.numel() == 0:
        raise ValueError("code_usage needs at least one index")
    if num_codes < 1:
        raise ValueError(f"num_codes (K) must be >= 1, got {num_codes}")
    if indices.min() < 0 or indices.max() >= num_codes:
        raise ValueError(f"indices must lie in [0, {num_codes}), got range [{int(indices.min())}, "
                         f"{int(indices.max())}]")
    counts = torch.bincount(indices, minlength=num_codes).double()
    return counts / counts.sum()


def _check_usage(p: torch.Tensor) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float64).flatten()
    if p.numel() == 0 or (p < 0).any() or not math.isclose(float(p.sum()), 1.0, rel_tol=1e-6):
        raise ValueError("usage must be a non-empty vector of non-negative frequencies summing to 1")
    return p


def utilization(p: torch.Tensor) -> float:
    """Fraction of codes used at least once: #{k : p_k > 0} / K."""
    p = _check_usage(p)
    return float((p > 0).double().mean())


def dead_codes(p: torch.Tensor) -> int:
    """Number of codes never selected over the evaluation set: #{k : p_k = 0}."""
    p = _check_usage(p)
    return int((p == 0).sum())


def perplexity(p: torch.Tensor) -> float:
    """exp(H(p)) = exp(-sum_k p_k log p_k): K for uniform usage, 1 when a single code is used."""
    p = _check_usage(p)
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


def _pairs_check(x: torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().double()
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} needs a [M, d] set with M >= 2, got shape {tuple(x.shape)}")
    return x


def mean_pairwise_cosine_distance(x: torch.Tensor) -> float:
    """Mean over pairs i != j of 1 - cos(x_i, x_j) (the paper's code-spread measure).

    Computed exactly in O(M d): sum_{i,j} cos = ||sum_i u_i||^2 with u_i = x_i / ||x_i||, minus the M
    diagonal terms. Zero vectors count as orthogonal to everything.
    """
    x = _pairs_check(x, "mean_pairwise_cosine_distance")
    u = F.normalize(x, dim=1)
    m = x.shape[0]
    diagonal = float((u.norm(dim=1) > 0).sum())
    cos_sum = float(u.sum(0).pow(2).sum()) - diagonal
    return 1.0 - cos_sum / (m * (m - 1))


def mean_pairwise_euclidean_distance(x: torch.Tensor, max_points: int | None = 2048, seed: int = 0,
                                     chunk_size: int = 2048) -> float:
    """Mean over pairs i != j of ||x_i - x_j||.

    Exact for M <= ``max_points``; above it, over a fixed random subset of ``max_points`` rows (seeded, so
    repeatable), which estimates the mean with negligible error for the set sizes used here.
    """
    x = _pairs_check(x, "mean_pairwise_euclidean_distance")
    if max_points is not None and x.shape[0] > max_points:
        gen = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(x.shape[0], generator=gen)[:max_points]]
    m = x.shape[0]
    total = 0.0
    for start in range(0, m, chunk_size):
        total += float(torch.cdist(x[start:start + chunk_size], x).sum())
    return total / (m * (m - 1))


def _singular_values(x: torch.Tensor, center: bool = True) -> torch.Tensor:
    x = torch.as_tensor(x).detach().double()
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"effective rank needs a [M, d] set with M >= 2, got shape {tuple(x.shape)}")
    return torch.linalg.svdvals(x - x.mean(0, keepdim=True) if center else x)


def effective_rank(x: torch.Tensor, center: bool = True) -> float:
    """Roy & Vetterli (2007): exp(H(s / sum s)) of the singular values s of the (centred) set.

    Centred by default, so a set's position does not count as a direction: d for an isotropic set in d
    dimensions, 1 for points on a line, 0 for a single repeated point. ``center=False`` gives the rank of
    the matrix itself (n for the n x n identity).
    """
    return _effective_rank_of(_singular_values(x, center))


def _effective_rank_of(s: torch.Tensor) -> float:
    if float(s.sum()) <= 1e-12 * max(1.0, float(s.max()) if s.numel() else 1.0):
        return 0.0
    q = s / s.sum()
    q = q[q > 0]
    return float(torch.exp(-(q * q.log()).sum()))


def components_for_variance(x: torch.Tensor, fraction: float = 0.99) -> int:
    """Number of principal components needed to explain ``fraction`` of the variance of the centred set.

    The 'effective dimension' of arXiv 2605.06870: smallest r with sum_{i<=r} s_i^2 >= fraction sum s_i^2.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    return _components_of(_singular_values(x).pow(2), fraction)


def _components_of(var: torch.Tensor, fraction: float) -> int:
    """Components for ``fraction`` of the variance, from the variances along the principal axes (descending)."""
    if float(var.sum()) <= 1e-24:
        return 0
    cumulative = torch.cumsum(var, 0) / var.sum()
    # The small tolerance keeps 'exactly 99 %' from depending on the last rounding bit.
    return int(torch.searchsorted(cumulative, torch.tensor(fraction - 1e-12, dtype=cumulative.dtype))) + 1


def quantization_error(embeddings: torch.Tensor, codebook: torch.Tensor) -> float:
    """Mean over embeddings of the squared distance to the nearest code: (1/N) sum_i min_k ||z_i - e_k||^2."""
    _, dist = nearest_code(torch.as_tensor(embeddings).float(), torch.as_tensor(codebook).float())
    return float(dist.double().mean())


def component_coverage(indices: torch.Tensor, labels: torch.Tensor, num_components: int) -> float:
    """Fraction of mixture components that own at least one code.

    A code is *owned* by the component that contributes the majority (the plurality, ties to the lower
    label) of the embeddings assigned to it. A component that owns no code has no token of its own: its
    points are always coded by a token that mostly serves another component, so it is lost in the
    tokenization. 1.0 means every component has its own code; 1/C means one component's codes serve all.
    """
    indices = torch.as_tensor(indices).flatten().long()
    labels = torch.as_tensor(labels).flatten().long()
    if indices.shape != labels.shape:
        raise ValueError(f"indices and labels must have the same length, got {indices.numel()} and "
                         f"{labels.numel()}")
    if num_components < 1 or labels.min() < 0 or labels.max() >= num_components:
        raise ValueError(f"labels must lie in [0, num_components={num_components})")
    num_codes = int(indices.max()) + 1 if indices.numel() else 1
    return coverage_from_table(code_component_table(indices, labels, num_codes, num_components))


def code_component_table(indices: torch.Tensor, labels: torch.Tensor, num_codes: int,
                         num_components: int) -> torch.Tensor:
    """Counts [K, C]: how many embeddings of component c are assigned to code k (tables of batches add up)."""
    table = torch.zeros(num_codes, num_components, dtype=torch.long, device=indices.device)
    table.index_put_((indices.long(), labels.long().to(indices.device)), torch.ones_like(indices, dtype=torch.long),
                     accumulate=True)
    return table


def coverage_from_table(table: torch.Tensor) -> float:
    """:func:`component_coverage` from a :func:`code_component_table`: the components owning a used code."""
    used = table[table.sum(1) > 0]
    owners = used.argmax(1)
    return float(torch.unique(owners).numel()) / table.shape[1]


def reconstruction_coverage(reconstructions: torch.Tensor, labels: torch.Tensor, means: torch.Tensor) -> float:
    """Fraction of components whose reconstructions are mostly nearest to their own mean.

    For component c, take its points' reconstructions; c is reproduced when the majority of them lie
    nearer to mean_c than to any other mean. Lost modes (reconstructions pulled into a neighbour) lower it.
    """
    return coverage_from_hits(*reconstruction_hits(reconstructions, labels, means))


def reconstruction_hits(reconstructions: torch.Tensor, labels: torch.Tensor,
                        means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per component: (reconstructions nearest to its own mean, points), counts that add up over batches."""
    reconstructions = torch.as_tensor(reconstructions).float()
    labels = torch.as_tensor(labels).flatten().long().to(reconstructions.device)
    means = torch.as_tensor(means).float().to(reconstructions.device)
    nearest, _ = nearest_code(reconstructions, means)
    c = means.shape[0]
    return (torch.bincount(labels[nearest == labels], minlength=c), torch.bincount(labels, minlength=c))


def coverage_from_hits(hits: torch.Tensor, totals: torch.Tensor) -> float:
    reproduced = (totals > 0) & (hits.double() / totals.clamp_min(1).double() > 0.5)
    return float(reproduced.sum()) / totals.numel()


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def _shrinkage_from(code: dict[str, float], emb: dict[str, float]) -> dict[str, float]:
    return {
        "shrinkage_euclidean": _ratio(code["euclidean"], emb["embedding_euclidean_distance"]),
        "shrinkage_cosine": _ratio(code["cosine"], emb["embedding_cosine_distance"]),
        "shrinkage_rank": _ratio(code["rank"], emb["embedding_effective_rank"]),
    }


def _code_spread(codebook: torch.Tensor) -> dict[str, float]:
    return {"euclidean": mean_pairwise_euclidean_distance(codebook), "cosine": mean_pairwise_cosine_distance(codebook),
            "rank": effective_rank(codebook)}


def shrinkage(codebook: torch.Tensor, embeddings: torch.Tensor) -> dict[str, float]:
    """Spread of the codebook relative to the spread of the embeddings it serves.

    euclidean: mean pairwise distance of codes / mean pairwise distance of embeddings;
    cosine: mean pairwise cosine distance of codes / that of embeddings;
    rank: effective rank of codes / effective rank of embeddings.
    Values well below 1 mean the codebook occupies a narrower region than the data it must represent.
    """
    return _shrinkage_from(_code_spread(codebook), embedding_metrics(embeddings))


def codebook_metrics(embeddings: torch.Tensor, codebook: torch.Tensor, labels=None, num_components=None,
                     embedding_stats: dict[str, float] | None = None):
    """All code-side metrics for one evaluation set, as a flat dict (the history table's columns).

    ``embeddings`` [N, d] and ``codebook`` [K, d] must be in the same (lookup) space. ``embedding_stats``:
    the :func:`embedding_metrics` of these embeddings when the caller has them already (they are the
    denominators of the shrinkage ratios, and the costliest part of an evaluation).
    """
    embeddings = torch.as_tensor(embeddings).float()
    codebook = torch.as_tensor(codebook).float()
    indices, dist = nearest_code(embeddings, codebook)
    coverage = None
    if labels is not None:
        coverage = component_coverage(indices, labels, int(num_components))
    return codebook_metrics_from_usage(code_usage(indices, codebook.shape[0]), codebook, float(dist.double().mean()),
                                       embedding_stats or embedding_metrics(embeddings), coverage)


def codebook_metrics_from_usage(p: torch.Tensor, codebook: torch.Tensor, quantization_error: float,
                                embedding_stats: dict[str, float], coverage: float | None = None) -> dict[str, float]:
    """:func:`codebook_metrics` from what a pass over the set accumulates: usage ``p``, the mean squared
    distance to the nearest code, and the embeddings' :func:`embedding_metrics` (or a :class:`StreamingStats`
    result)."""
    codebook = torch.as_tensor(codebook).detach().float().cpu()
    p = torch.as_tensor(p).double().cpu()
    spread = _code_spread(codebook)
    out = {
        "utilization": utilization(p),
        "perplexity": perplexity(p),
        "dead_codes": dead_codes(p),
        "code_cosine_distance": spread["cosine"],
        "code_euclidean_distance": spread["euclidean"],
        "code_effective_rank": spread["rank"],
        "code_components_99": components_for_variance(codebook),
        "quantization_error": float(quantization_error),
    }
    used = codebook[p.float() > 0]
    out["used_code_cosine_distance"] = mean_pairwise_cosine_distance(used) if used.shape[0] > 1 else float("nan")
    out.update(_shrinkage_from(spread, embedding_stats))
    if coverage is not None:
        out["coverage"] = coverage
    return out


def embedding_metrics(embeddings: torch.Tensor) -> dict[str, float]:
    """Embedding-side metrics (for embeddings collapse): spread and effective ranks of z_e."""
    embeddings = torch.as_tensor(embeddings).float()
    return {
        "embedding_euclidean_distance": mean_pairwise_euclidean_distance(embeddings),
        "embedding_cosine_distance": mean_pairwise_cosine_distance(embeddings),
        "embedding_effective_rank": effective_rank(embeddings),
        "embedding_components_99": components_for_variance(embeddings),
        "embedding_std": float(np.sqrt(float(embeddings.double().var(0).sum()))),
    }


def pca_basis(x: torch.Tensor, components: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top principal directions of a set: (mean [d], directions [components, d]).

    Signs are fixed (largest coordinate of each direction positive) so pictures do not flip between runs.
    With fewer dimensions than ``components`` the missing directions are zero.
    """
    x = torch.as_tensor(x).detach().double()
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    directions = torch.zeros(components, x.shape[1], dtype=torch.float64)
    k = min(components, vh.shape[0])
    directions[:k] = vh[:k]
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * torch.where(signs == 0, torch.ones_like(signs), signs)
    return mean.float(), directions.float()


def project(x: torch.Tensor, basis: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Coordinates of ``x`` in a :func:`pca_basis` (centred on the basis's mean)."""
    mean, directions = basis
    return (torch.as_tensor(x).float() - mean) @ directions.T


# -- a sample whose rows do not depend on how the stream is batched ------------------------------------------
_GOLDEN, _MIX1, _MIX2 = (np.uint64(c) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Steele et al.'s splitmix64 finalizer on a uint64 array (wraps around, as intended)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _row_keys(first: int, count: int, seed: int) -> torch.Tensor:
    """A pseudo-random key (int64, non-negative) for each row position first..first+count-1: a bijective hash of
    the position mixed with the seed, so distinct rows never tie and a row's key does not depend on how the rows
    were batched. The rows of smallest key are :class:`StreamingStats`' sample when the number of rows is not
    known up front."""
    positions = np.arange(first, first + count, dtype=np.uint64)
    keys = _splitmix64(positions ^ _splitmix64(np.array([seed], dtype=np.uint64)))
    return torch.from_numpy((keys >> np.uint64(1)).astype(np.int64))  # 63 bits: non-negative as int64


class StreamingStats:
    """:func:`embedding_metrics` of a set seen one batch at a time, in memory that does not grow with it.

    - cosine spread: the sum of the rows' unit vectors (the exact O(M d) formula of
      :func:`mean_pairwise_cosine_distance`);
    - effective rank, 99 %-components and spread (std): from the accumulated d x d scatter matrix of the rows
      (float64, shifted by the first batch's mean for accuracy): its eigenvalues are the squared singular
      values of the centred set (:meth:`spectrum`), and the rows' :attr:`mean` comes with it;
    - Euclidean spread: over a sample of ``max_points`` rows kept as the batches stream past
      (:meth:`sample_rows`).

    The sample, two ways:

    - ``total_rows`` given (how many rows will come): the same fixed random sample of rows that
      :func:`mean_pairwise_euclidean_distance` takes (``max_points`` of ``total_rows``, seeded), so the result
      is the exact computation's; the accumulators can be summed over processes (:meth:`reduce`);
    - ``total_rows=None`` (the count is not known up front, e.g. any iterable of batches): the ``max_points``
      rows of smallest key (a hash of the row's position and the seed), the same rows whatever the
      batch sizes; with at most ``max_points`` rows, every row, and the spread is the exact one.

    Agreement with the whole-set functions is tested to about 1e-10 relative (summation order and eigen-
    instead of singular-value decomposition); the Euclidean spread is equal.
    """

    def __init__(self, total_rows: int | None, dim: int, max_points: int | None = 2048, seed: int = 0, device=None):
        self.total_rows = None if total_rows is None else int(total_rows)
        self.dim, self.seen, self.seed = int(dim), 0, int(seed)
        device = torch.device(device) if device is not None else torch.device("cpu")
        self.unit_sum = torch.zeros(dim, dtype=torch.float64, device=device)
        self.nonzero = 0
        self.shift: torch.Tensor | None = None
        self.linear = torch.zeros(dim, dtype=torch.float64, device=device)
        self.scatter = torch.zeros(dim, dim, dtype=torch.float64, device=device)
        if self.total_rows is None:
            if max_points is None or max_points < 1:
                raise ValueError(f"StreamingStats without total_rows keeps a sample of max_points rows: give "
                                 f"max_points >= 1, got {max_points!r}")
            self.max_points = int(max_points)
            # the rows of smallest key so far, with their keys and positions
            self.sample_keys = torch.zeros(0, dtype=torch.long, device=device)
            self.sample_positions = torch.zeros(0, dtype=torch.long, device=device)
            self.sample = torch.zeros(0, dim, dtype=torch.float64, device=device)
            return
        if max_points is not None and self.total_rows > max_points:
            gen = torch.Generator().manual_seed(seed)
            positions = torch.randperm(self.total_rows, generator=gen)[:max_points]
        else:
            positions = torch.arange(self.total_rows)
        # rows of the sample in the order the exact function takes them; a batch fills its slots
        self.sorted_positions, self.slots = (v.to(device) for v in torch.sort(positions))
        self.sample = torch.zeros(positions.numel(), dim, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, rows: torch.Tensor, start: int | None = None) -> None:
        """Add ``rows``, whose first is row ``start`` of the whole set (default: right after the rows seen)."""
        x = rows.detach().double().to(self.sample.device)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"StreamingStats expects rows [m, {self.dim}], got {tuple(x.shape)}")
        first = self.seen if start is None else int(start)
        if self.total_rows is not None and (self.seen + x.shape[0] > self.total_rows
                                            or first + x.shape[0] > self.total_rows):
            raise ValueError(f"more rows than the {self.total_rows} announced")
        u = F.normalize(x, dim=1)
        self.unit_sum += u.sum(0)
        self.nonzero += int((u.norm(dim=1) > 0).sum())
        if self.shift is None:
            self.shift = x.mean(0)
        centred = x - self.shift
        self.linear += centred.sum(0)
        self.scatter += centred.T @ centred
        if self.total_rows is None:
            keys = torch.cat([self.sample_keys, _row_keys(first, x.shape[0], self.seed).to(x.device)])
            positions = torch.cat([self.sample_positions, torch.arange(first, first + x.shape[0], device=x.device)])
            candidates = torch.cat([self.sample, x])
            keep = torch.topk(keys, min(self.max_points, keys.numel()), largest=False).indices
            self.sample, self.sample_keys, self.sample_positions = candidates[keep], keys[keep], positions[keep]
        else:
            lo, hi = torch.searchsorted(self.sorted_positions, torch.tensor([first, first + x.shape[0]],
                                                                              device=self.sorted_positions.device))
            if hi > lo:
                self.sample[self.slots[lo:hi]] = x[self.sorted_positions[lo:hi] - first]
        self.seen += x.shape[0]

    @torch.no_grad()
    def reduce(self) -> None:
        """Sum the accumulators over the ranks of torch.distributed, each of which saw a disjoint part of the
        set (with ``update(rows, start)``); afterwards every rank holds the whole set's. A no-op in one process.
        The scatter matrices are first moved to one common centre (rank 0's shift). Needs ``total_rows``."""
        from . import distributed

        if not distributed.is_distributed():
            return
        if self.total_rows is None:
            raise ValueError("StreamingStats.reduce needs the fixed sample of a known number of rows: create it "
                             "with total_rows")
        device = self.scatter.device
        centre = self.shift.clone() if self.shift is not None else torch.zeros(self.dim, dtype=torch.float64,
                                                                                  device=device)
        distributed.broadcast(centre)  # rank 0 evaluates the first batch, so it always has a shift
        if self.shift is not None:
            # sum (x - c)(x - c)^T = S + L d^T + d L^T + n d d^T with d = shift - c, L = sum (x - shift)
            d = self.shift - centre
            self.scatter += torch.outer(self.linear, d) + torch.outer(d, self.linear) + self.seen * torch.outer(d, d)
            self.linear += self.seen * d
        self.shift = centre
        counts = torch.tensor([float(self.seen), float(self.nonzero)], dtype=torch.float64, device=device)
        for tensor in (self.unit_sum, self.linear, self.scatter, self.sample, counts):
            distributed.all_reduce_sum(tensor)  # every sample slot was filled by exactly one rank
        self.seen, self.nonzero = int(counts[0]), int(counts[1])

    def _check_complete(self) -> int:
        m = self.seen
        if (self.total_rows is not None and m != self.total_rows) or m < 2:
            announced = f"of {self.total_rows} announced " if self.total_rows is not None else ""
            raise ValueError(f"StreamingStats saw {m} {announced}rows (at least 2 needed)")
        return m

    def _covariance(self) -> torch.Tensor:
        return self.scatter - torch.outer(self.linear, self.linear) / self.seen  # the scatter about the mean

    @property
    def mean(self) -> torch.Tensor:
        """The mean of the rows seen [d] (float64, on the accumulators' device)."""
        self._check_complete()
        return self.shift + self.linear / self.seen

    def spectrum(self) -> torch.Tensor:
        """The variances along the principal axes of the rows seen, largest first [d] (float64, CPU): the
        eigenvalues of the centred scatter matrix, i.e. the squared singular values of the centred set (sum
        over rows, not divided by their number)."""
        self._check_complete()
        return torch.linalg.eigvalsh(self._covariance()).clamp_min(0).flip(0).cpu()

    def sample_rows(self) -> torch.Tensor:
        """The sampled rows [S, d] (float64, CPU), in the order the Euclidean spread takes them: the exact
        function's with ``total_rows``, else the order they came in (with every row kept, the rows themselves)."""
        if self.total_rows is None:
            return self.sample[torch.argsort(self.sample_positions)].cpu()
        return self.sample.cpu()

    def result(self) -> dict[str, float]:
        """The same keys and (to rounding) the same values as :func:`embedding_metrics` of all rows."""
        m = self._check_complete()
        covariance = self._covariance()
        variances = torch.linalg.eigvalsh(covariance).clamp_min(0).flip(0).cpu()  # = squared singular values
        cos_sum = float(self.unit_sum.pow(2).sum()) - self.nonzero
        return {
            "embedding_euclidean_distance": mean_pairwise_euclidean_distance(self.sample_rows(), max_points=None),
            "embedding_cosine_distance": 1.0 - cos_sum / (m * (m - 1)),
            "embedding_effective_rank": _effective_rank_of(variances.sqrt()),
            "embedding_components_99": _components_of(variances, 0.99),
            "embedding_std": float(np.sqrt(max(float(torch.trace(covariance)), 0.0) / (m - 1))),
        }
