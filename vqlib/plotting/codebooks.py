"""A codebook drawn over the embeddings it serves: used codes and dead codes, in any 2-D view (PCA, t-SNE).

One drawing for every figure that shows codes among embeddings (notebooks 01, 02 and 05), in two styles:

- ``"components"``: embeddings coloured by their mixture component, used codes as black crosses, dead codes as
  grey rings (the mixture's pictures, where which mode a code sits in is the point);
- ``"tokens"``: embeddings in light grey, used codes black, dead codes red (image tokenizers, whose embeddings
  have no component to colour by).
"""

from __future__ import annotations

import numpy as np

__all__ = ["scatter_points", "codes_over_embeddings"]


def scatter_points(ax, points, labels, title: str | None = None) -> None:
    """Points [N, 2] coloured by integer ``labels`` (tab10), small and rasterized; no ticks (a projection's
    axes have no units)."""
    points, labels = np.asarray(points), np.asarray(labels)  # matplotlib iterates tensors element by element
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=2, alpha=0.5, rasterized=True, lw=0)
    if title is not None:
        ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])


def codes_over_embeddings(ax, view, style: str = "tokens", labels=None, title: str | None = None,
                          legend: str | None = None, dead_color: str = "0.5") -> None:
    """Draw ``view`` (a :class:`vqlib.studies.views.CodebookView`: embeddings, codes, which codes are used)
    on ``ax``.

    ``style="components"`` needs ``labels`` (the component of every shown embedding); ``dead_color`` is its
    rings' colour. ``legend``: None (no entries), ``"names"`` ("used code", "unused code"; "token embeddings",
    "dead codes", "used codes") or ``"counts"`` ("dead (12)", "used (244)")."""
    xy, used = np.asarray(view.codes), np.asarray(view.used, dtype=bool)
    dead_n, used_n = int((~used).sum()), int(used.sum())
    if style == "components":
        if labels is None:
            raise ValueError("style='components' colours the embeddings by component: pass labels")
        scatter_points(ax, view.embeddings, labels, title)
        names = ("unused code", "used code") if legend == "names" else (None, None)
        ax.scatter(xy[~used, 0], xy[~used, 1], s=14, facecolors="none", edgecolors=dead_color, lw=0.6, label=names[0])
        ax.scatter(xy[used, 0], xy[used, 1], marker="x", s=16, c="k", lw=0.8, label=names[1])
        return
    if style != "tokens":
        raise ValueError(f"unknown style {style!r}; choose 'components' or 'tokens'")
    names = {"names": ("token embeddings", "dead codes", "used codes"),
             "counts": (None, f"dead ({dead_n})", f"used ({used_n})")}.get(legend, (None, None, None))
    emb = np.asarray(view.embeddings)
    ax.scatter(emb[:, 0], emb[:, 1], s=2, c="0.7", lw=0, rasterized=True, label=names[0])
    # dead codes last, on top: they bunch where the used ones are (the shrinkage) and would hide beneath them
    ax.scatter(xy[used, 0], xy[used, 1], s=6, c="k", lw=0, label=names[2])
    ax.scatter(xy[~used, 0], xy[~used, 1], s=6, c="#d62728", lw=0, label=names[1], zorder=3)
    if title is not None:
        ax.set_title(title, fontsize=8)
