"""Whole-epoch code usage from inside any training loop (:class:`UsageTracker`)."""

from __future__ import annotations

import torch

from .. import distributed, metrics

__all__ = ["UsageTracker"]


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
