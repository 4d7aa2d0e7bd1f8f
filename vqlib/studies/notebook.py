"""What every notebook does before its first cell of work."""

from __future__ import annotations

import pandas as pd

from .. import versions
from ..plotting import set_style
from ..scales import Scale, get_scale

__all__ = ["begin"]


def begin(scale: str | Scale | None = None) -> Scale:
    """The named scale (an unknown name is an error listing the known ones), with the house style for
    figures and tables that show their sentences (the claims) whole; prints the versions that decide the
    numbers and pixels (python, torch, numpy, pandas, matplotlib)."""
    s = get_scale(scale)
    print(f"versions: {versions.describe()}")  # what the numbers and pixels below were made with
    set_style()
    pd.set_option("display.max_colwidth", 100)
    return s
