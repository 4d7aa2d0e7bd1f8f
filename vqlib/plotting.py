"""One house style and deterministic figure files. The only module of vqlib that imports matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and not os.environ.get("JPY_PARENT_PID"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import paths  # noqa: E402

__all__ = ["set_style", "save_figure", "ARM_COLORS", "plt"]

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


def save_figure(fig, name: str, provenance: str, scale: str = "default") -> Path:
    """Write ``fig`` as ``<figures>/<name>.png`` and ``.pdf`` with a provenance line and fixed metadata.

    ``provenance`` names the data and scale that produced the figure (it is printed along the bottom
    edge, so the figure carries it wherever it goes). Metadata that would change from run to run
    (software version, creation date) is left out, so an unchanged figure is byte-identical.
    Non-default scales go to ``figures/<scale>/`` so tests never overwrite the committed gallery.
    Returns the PNG path.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem like '01_usage', got {name!r}")
    if not provenance:
        raise ValueError("provenance must say which data and scale produced the figure")
    out = paths.figures_dir(scale)
    out.mkdir(parents=True, exist_ok=True)
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
