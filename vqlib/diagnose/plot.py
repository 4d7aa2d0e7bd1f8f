"""The one-page picture of a :class:`~vqlib.diagnose.Report` (matplotlib is imported only when it is drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import metrics
from .verdict import SHRINKAGE_MIN

__all__ = ["report_page", "NEUTRAL"]

#: the tokenizer's colour when the caller names none (a diagnosed layer of unknown kind)
NEUTRAL = "C0"
#: what is not the tokenizer's (the Lorenz curve, dead codes, thresholds): dark greys, never a colour that a
#: caller's colour could repeat
INK = "0.2"


def report_page(report, path: str | Path | None = None, color=None):
    """Sorted usage with the Lorenz curve, a PCA view of the embeddings (the sample) with the codes on top, the
    singular-value spectra of codes and embeddings, and the shrinkage ratios, in the house style (for this
    figure only: the caller's settings are left alone). ``color`` draws what is the tokenizer's (its usage, its
    used codes, its spectrum, its ratios): a study passes its arm's colour, so that the arm looks the same as in
    every other figure; default :data:`NEUTRAL`. Everything else is grey, so no colour can clash with it.
    Returns the Figure; writes it to ``path`` when given."""
    color = color or NEUTRAL
    from ..plotting import finish, plt, set_style

    with plt.rc_context():
        set_style()
        fig, axes = plt.subplots(2, 2, figsize=(10, 7.6))
        _usage(report, axes[0, 0], color)
        _pca(report, axes[0, 1], color)
        _spectra(report, axes[1, 0], color)
        _shrinkage(report, axes[1, 1], color)
        v = report.values
        finish(fig, title=f"verdict: {', '.join(report.verdict)}  ({report.description}; N = {v['rows']}, "
                          f"K = {v['num_codes']}, d = {v['dim']})")
        if path is not None:
            metadata = {"Software": None} if str(path).lower().endswith(".png") else None
            fig.savefig(path, metadata=metadata)
    return fig


def _usage(report, ax, color) -> None:
    import seaborn as sns

    counts = report.counts
    k = counts.numel()
    share = np.sort(counts.double().numpy() / max(int(counts.sum()), 1))  # least used first
    ranks = np.arange(k)
    # seaborn's histogram of the codes (by rank) weighted by their share of the tokens; the Lorenz curve is the
    # empirical distribution function of the same weights. The axis counts codes and reads as a fraction of K.
    sns.histplot(x=ranks + 0.5, weights=share, binwidth=1, binrange=(0, k), element="step", fill=True,
                 color=color, alpha=0.5, linewidth=0.8, ax=ax)
    ax.set_xlim(0, k)
    ax.set_xticks(np.linspace(0, k, 6), [f"{f:g}" for f in np.linspace(0, 1, 6)])
    ax.set_xlabel("codes, least to most used (fraction of K)")
    ax.set_ylabel("share of the tokens per code (filled)")
    ax.set_title(f"usage: {report.values['utilization']:.0%} of {k} codes used, perplexity "
                 f"{report.values['perplexity']:.1f}")
    lorenz = ax.twinx()
    lorenz.grid(False)
    if share.sum() > 0:  # no tokens, no curve
        sns.ecdfplot(x=ranks + 1, weights=share, color=INK, ax=lorenz,
                     label="Lorenz curve: tokens taken by the least used codes")
    lorenz.plot([0, k], [0, 1], ls=":", color="0.5", lw=1, label="equal use")
    lorenz.set_ylim(0, 1.02)
    lorenz.set_ylabel("cumulative share of the tokens (Lorenz curve)")
    lorenz.legend(loc="upper left", fontsize=7)


def _pca(report, ax, color) -> None:
    basis = metrics.pca_basis(report.sample)
    points = metrics.project(report.sample, basis).numpy()
    codes = metrics.project(report.codebook, basis).numpy()
    used = (report.counts > 0).numpy()
    ax.scatter(points[:, 0], points[:, 1], s=3, color="0.6", alpha=0.4, lw=0,
               label=f"embeddings ({report.sample.shape[0]} sampled)")
    ax.scatter(codes[used, 0], codes[used, 1], s=18, marker="x", color=color, lw=1, label="used codes")
    if (~used).any():  # on top: dead codes bunch where the used ones are, and would hide beneath them
        ax.scatter(codes[~used, 0], codes[~used, 1], s=18, marker="o", facecolors="none", edgecolors=INK, lw=0.8,
                   label=f"dead codes ({int((~used).sum())})", zorder=3)
    ax.set_xlabel("first principal direction of the embeddings")
    ax.set_ylabel("second principal direction")
    ax.set_title("embeddings and codes (PCA of the embeddings)")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    if (~used).any():
        _zoom_on_dead(ax, points, codes, used, color)


#: dead codes bunched within this fraction of the embeddings' extent get a zoomed inset (one blob otherwise)
ZOOM_BELOW = 0.1


def _zoom_on_dead(ax, points, codes, used, color) -> None:
    """An inset magnifying the dead codes where they sit bunched in a small patch (a shrunk codebook's unused
    codes collapse together): at the main panel's scale they are one blob and their number is invisible."""
    dead = codes[~used]
    extent = float(np.ptp(points[:, :2], axis=0).max())
    # the box of the middle 90 % on each axis: one stray dead code must not set the zoom
    low, high = np.quantile(dead[:, :2], 0.05, axis=0), np.quantile(dead[:, :2], 0.95, axis=0)
    span = float((high - low).max())
    if len(dead) < 2 or extent <= 0 or span >= ZOOM_BELOW * extent:
        return
    centre = (low + high) / 2
    half = max(span * 0.6, 1e-3 * extent)
    inset = ax.inset_axes(_emptiest_corner(ax, np.concatenate([points[:, :2], codes[:, :2]])))
    inset.scatter(codes[used, 0], codes[used, 1], s=14, marker="x", color=color, lw=1)
    inset.scatter(dead[:, 0], dead[:, 1], s=14, marker="o", facecolors="none", edgecolors=INK, lw=0.6, zorder=3)
    inset.set_xlim(centre[0] - half, centre[0] + half)
    inset.set_ylim(centre[1] - half, centre[1] + half)
    inset.set_xticks([]), inset.set_yticks([])
    inset.set_title(f"most dead codes, magnified x{extent / (2 * half):.0f}", fontsize=6, pad=2)
    ax.indicate_inset_zoom(inset, edgecolor="0.3")


#: the height (axes fraction) of the inset's title line above its box
INSET_TITLE = 0.07


def _emptiest_corner(ax, xy, size: float = 0.34) -> list[float]:
    """The bounds (axes fraction) of a ``size`` box in the corner, other than the legend's upper right, that
    covers the fewest of the points ``xy`` with its title line above it (:data:`INSET_TITLE`), both inside the
    axes."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx, fy = (xy[:, 0] - x0) / (x1 - x0), (xy[:, 1] - y0) / (y1 - y0)
    corners = [(0.02, 0.02), (1 - 0.02 - size, 0.02), (0.02, 1 - 0.02 - size - INSET_TITLE)]
    covered = [int(((fx >= cx) & (fx <= cx + size) & (fy >= cy) & (fy <= cy + size + INSET_TITLE)).sum())
               for cx, cy in corners]
    cx, cy = corners[covered.index(min(covered))]
    return [cx, cy, size, size]


def _spectra(report, ax, code_color) -> None:
    for values, label, color, rank in ((report.code_singular_values, "codes", code_color, "code_effective_rank"),
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


def _shrinkage(report, ax, color) -> None:
    names = [("shrinkage_euclidean", "distance"), ("shrinkage_cosine", "cosine distance"),
             ("shrinkage_rank", "effective rank")]
    heights = [report.values[name] for name, _ in names]
    bars = ax.bar([label for _, label in names], heights, color=color, width=0.6)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="0.4", lw=0.8, label="codes as spread as the embeddings")
    ax.axhline(SHRINKAGE_MIN, color=INK, ls="--", lw=0.8, label=f"shrinkage threshold ({SHRINKAGE_MIN})")
    ax.set_ylim(0, 1.4 * max(1.0, *heights))  # room for the labels and the legend above the bars
    ax.set_ylabel("codes / embeddings")
    ax.set_title("shrinkage ratios")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
