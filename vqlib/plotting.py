"""One house style and deterministic figure files. The only module of vqlib that imports matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and not os.environ.get("JPY_PARENT_PID"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import paths  # noqa: E402

__all__ = ["set_style", "save_figure", "plot_curves", "plot_sweep", "image_grid", "ARM_COLORS", "plt"]

#: one colour per arm, used by every notebook so that an arm looks the same everywhere
ARM_COLORS = {
    "early k-means (baseline)": "#d62728",
    "early normal": "#ff7f0e",
    "early uniform": "#8c564b",
    "deferred": "#1f77b4",
}


def set_style() -> None:
    """The house style: white background, light grid, readable small fonts, no top/right spines."""
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 120,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "vqlib",
        "pdf.fonttype": 42,
    })


def _color(label: str, i: int):
    return ARM_COLORS.get(label, f"C{i % 10}")


def plot_curves(ax, groups: dict, metric: str, x: str = "step", ylabel: str | None = None) -> None:
    """One line per group: the mean over seeds of ``metric`` against ``x``, with a band from the minimum
    to the maximum over seeds. ``groups`` maps a label to a list of history DataFrames (one per seed);
    NaN entries (e.g. code metrics during a continuous phase) leave gaps."""
    import pandas as pd

    for i, (label, frames) in enumerate(groups.items()):
        table = pd.concat([f[[x, metric]].assign(_seed=j) for j, f in enumerate(frames)])
        stats = table.groupby(x)[metric].agg(["mean", "min", "max"])
        n = len(frames)
        ax.plot(stats.index, stats["mean"], color=_color(label, i), label=f"{label} (n={n})" if n > 1 else label)
        if n > 1:
            ax.fill_between(stats.index, stats["min"], stats["max"], color=_color(label, i), alpha=0.2, lw=0)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or metric.replace("_", " "))


def plot_sweep(ax, table, x: str, metric: str, group: str | None = None, logx: bool = False,
               ylabel: str | None = None) -> None:
    """Mean of ``metric`` against ``x`` over seeds (error bars: min to max), one line per ``group`` value."""
    groups = [(None, table)] if group is None else list(table.groupby(group, sort=False))
    for i, (label, sub) in enumerate(groups):
        stats = sub.groupby(x)[metric].agg(["mean", "min", "max"]).sort_index()
        color = _color(str(label), i) if label is not None else "C0"
        # clip: the mean of equal values can exceed their max by a rounding error
        low, high = (stats["mean"] - stats["min"]).clip(lower=0), (stats["max"] - stats["mean"]).clip(lower=0)
        ax.errorbar(stats.index, stats["mean"], yerr=[low, high],
                    marker="o", ms=3, capsize=2, color=color, label=None if label is None else str(label))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel or metric.replace("_", " "))


def image_grid(batch, columns: int, gap: int = 2):
    """Tile images [N, 3, H, W] in [-1, 1] into one uint8 RGB array, ``columns`` per row, white gaps."""
    import numpy as np

    from .images import to_uint8

    tiles = to_uint8(batch)
    n, h, w, _ = tiles.shape
    canvas = np.full((-(-n // columns) * (h + gap), columns * (w + gap), 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return canvas


def save_figure(fig, name: str, provenance: str, scale: str = "default") -> Path:
    """Write ``fig`` as ``<figures>/<name>.png`` and ``.pdf`` with a provenance line and fixed metadata.

    ``provenance`` names the data and scale that produced the figure. It is printed along the bottom edge,
    so the figure carries it wherever it goes; paths inside the repository are shown relative to it.
    Metadata that would change from run to run (software version, creation date) is left out, so an
    unchanged figure is byte-identical. Non-default scales go to ``figures/<scale>/`` so tests never
    overwrite the committed gallery.
    Returns the PNG path.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem like '01_usage', got {name!r}")
    if not provenance:
        raise ValueError("provenance must say which data and scale produced the figure")
    out = paths.figures_dir(scale)
    out.mkdir(parents=True, exist_ok=True)
    provenance = paths.relative_text(provenance)
    fig.text(0.005, 0.003, f"{provenance} | scale: {scale}", fontsize=6, color="0.4", ha="left", va="bottom")
    png = out / f"{name}.png"
    pdf = out / f"{name}.pdf"
    _atomic(lambda p: fig.savefig(p, format="png", metadata={"Software": None}), png)
    _atomic(lambda p: fig.savefig(p, format="pdf", metadata={"CreationDate": None, "ModDate": None,
                                                            "Producer": None, "Creator": None}), pdf)
    return png


def _atomic(write, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
