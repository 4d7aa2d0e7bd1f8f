"""The one-page picture of a :class:`~vqlib.diagnose.Report` (matplotlib is imported only when it is drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import metrics
from .verdict import SHRINKAGE_MIN

__all__ = ["report_page"]


def report_page(report, path: str | Path | None = None):
    """Sorted usage with the Lorenz curve, a PCA view of the embeddings (the sample) with the codes on top, the
    singular-value spectra of codes and embeddings, and the shrinkage ratios, in the house style (for this
    figure only: the caller's settings are left alone). Returns the Figure; writes it to ``path`` when given."""
    from ..plotting import finish, plt, set_style

    with plt.rc_context():
        set_style()
        fig, axes = plt.subplots(2, 2, figsize=(10, 7.6))
        _usage(report, axes[0, 0])
        _pca(report, axes[0, 1])
        _spectra(report, axes[1, 0])
        _shrinkage(report, axes[1, 1])
        v = report.values
        finish(fig, title=f"verdict: {', '.join(report.verdict)}  ({report.description}; N = {v['rows']}, "
                          f"K = {v['num_codes']}, d = {v['dim']})")
        if path is not None:
            metadata = {"Software": None} if str(path).lower().endswith(".png") else None
            fig.savefig(path, metadata=metadata)
    return fig


def _usage(report, ax) -> None:
    counts = report.counts
    k = counts.numel()
    share = np.sort(counts.double().numpy() / max(int(counts.sum()), 1))  # least used first
    x = np.arange(1, k + 1) / k
    ax.fill_between(x, share, step="pre", color="C0", alpha=0.5, lw=0)
    ax.step(x, share, where="pre", color="C0", lw=0.8)
    ax.set_xlabel("codes, least to most used (fraction of K)")
    ax.set_ylabel("share of the tokens per code", color="C0")
    ax.set_title(f"usage: {report.values['utilization']:.0%} of {k} codes used, perplexity "
                 f"{report.values['perplexity']:.1f}")
    lorenz = ax.twinx()
    lorenz.grid(False)
    lorenz.plot(np.concatenate([[0.0], x]), np.concatenate([[0.0], np.cumsum(share)]), color="C3",
                label="Lorenz curve: tokens taken by the least used codes")
    lorenz.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1, label="equal use")
    lorenz.set_ylim(0, 1.02)
    lorenz.set_ylabel("cumulative share of the tokens (Lorenz curve)", color="C3")
    lorenz.legend(loc="upper left", fontsize=7)


def _pca(report, ax) -> None:
    basis = metrics.pca_basis(report.sample)
    points = metrics.project(report.sample, basis).numpy()
    codes = metrics.project(report.codebook, basis).numpy()
    used = (report.counts > 0).numpy()
    ax.scatter(points[:, 0], points[:, 1], s=3, color="0.6", alpha=0.4, lw=0,
               label=f"embeddings ({report.sample.shape[0]} sampled)")
    if (~used).any():
        ax.scatter(codes[~used, 0], codes[~used, 1], s=18, marker="x", color="C3", lw=1, label="dead codes")
    ax.scatter(codes[used, 0], codes[used, 1], s=18, marker="x", color="C0", lw=1, label="used codes")
    ax.set_xlabel("first principal direction of the embeddings")
    ax.set_ylabel("second principal direction")
    ax.set_title("embeddings and codes (PCA of the embeddings)")
    ax.legend(loc="best", fontsize=7, framealpha=0.85)


def _spectra(report, ax) -> None:
    for values, label, color, rank in ((report.code_singular_values, "codes", "C0", "code_effective_rank"),
                                       (report.embedding_singular_values, "embeddings", "0.4",
                                        "embedding_effective_rank")):
        s = values.double().numpy()
        s = s / s.sum() if s.sum() > 0 else s
        s = s[s > 0]
        ax.plot(np.arange(1, s.size + 1), s, marker="o", ms=3, color=color,
                label=f"{label} (effective rank {report.values[rank]:.1f})")
    ax.set_yscale("log")
    ax.set_xlabel("principal direction")
    ax.set_ylabel("singular value / sum of singular values")
    ax.set_title("spectra (flat: spread over many directions)")
    ax.legend(fontsize=7)


def _shrinkage(report, ax) -> None:
    names = [("shrinkage_euclidean", "distance"), ("shrinkage_cosine", "cosine distance"),
             ("shrinkage_rank", "effective rank")]
    heights = [report.values[name] for name, _ in names]
    bars = ax.bar([label for _, label in names], heights, color=["C0", "C1", "C2"], width=0.6)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="0.4", lw=0.8, label="codes as spread as the embeddings")
    ax.axhline(SHRINKAGE_MIN, color="C3", ls="--", lw=0.8, label=f"shrinkage threshold ({SHRINKAGE_MIN})")
    ax.set_ylim(0, 1.4 * max(1.0, *heights))  # room for the labels and the legend above the bars
    ax.set_ylabel("codes / embeddings")
    ax.set_title("shrinkage ratios")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
