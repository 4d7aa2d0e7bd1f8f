"""Where things live: the repository root, data/, the run cache and figures/.

Paths resolve from the repository root, never the current directory (nbval starts kernels in
notebooks/, papermill in the caller's directory). Environment overrides: VQLIB_ROOT, VQLIB_DATA,
VQLIB_CACHE, VQLIB_FIGURES.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "data_dir", "cache_dir", "figures_dir", "relative_text", "progress_enabled"]


def repo_root() -> Path:
    if os.environ.get("VQLIB_ROOT"):
        return Path(os.environ["VQLIB_ROOT"]).resolve()
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "pyproject.toml").exists():
        return package_parent
    return Path.cwd()


def data_dir() -> Path:
    return Path(os.environ["VQLIB_DATA"]).resolve() if os.environ.get("VQLIB_DATA") else repo_root() / "data"


def cache_dir() -> Path:
    """Finished runs, one file per run spec."""
    if os.environ.get("VQLIB_CACHE"):
        return Path(os.environ["VQLIB_CACHE"]).resolve()
    return data_dir() / "cache" / "runs"


def figures_dir(scale: str = "default") -> Path:
    """figures/ for the default scale (the committed gallery); figures/<scale>/ for the others, so a smoke
    test never overwrites the gallery."""
    base = Path(os.environ["VQLIB_FIGURES"]).resolve() if os.environ.get("VQLIB_FIGURES") else repo_root() / "figures"
    return base if scale == "default" else base / scale


def relative_text(text: str) -> str:
    """``text`` with the repository root's absolute path removed from any path in it, so that figure
    captions do not depend on where the repository was cloned."""
    return text.replace(str(repo_root()) + os.sep, "")


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show progress bars: ``progress`` if given, else unless VQLIB_PROGRESS=0."""
    if progress is not None:
        return progress
    return os.environ.get("VQLIB_PROGRESS", "1") != "0"
