"""What every notebook does before its first cell of work."""

from __future__ import annotations

import pandas as pd

from ..plotting import set_style
from ..scales import Scale, get_scale

__all__ = ["begin"]


def begin(scale: str | Scale | None = None) -> Scale:
    """The named scale (an unknown name is an error listing the known ones), with the house style for
    figures and tables that show their sentences (the claims) whole."""
    s = get_scale(scale)
    set_style()
    pd.set_option("display.max_colwidth", 100)
    return s
