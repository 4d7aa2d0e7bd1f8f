"""What every notebook does before its first cell of work."""

from __future__ import annotations

import pandas as pd

from .. import versions
from ..plotting import set_style
from ..scales import Scale
from .context import Context, context

__all__ = ["begin"]


def begin(scale: str | Scale | Context = "default", cifar_root=None, imagenet_root=None,
          imagenet_classes=None) -> Context:
    """The study context of a notebook's parameters (an unknown scale is an error listing the known ones), with
    the house style for figures and tables that show their sentences (the claims) whole; prints the versions
    that decide the numbers and pixels (python, torch, numpy, pandas, matplotlib, the CPU's instruction set)."""
    ctx = context(scale, cifar_root, imagenet_root, imagenet_classes)
    print(f"versions: {versions.describe()}")  # what the numbers and pixels below were made with
    set_style()
    pd.set_option("display.max_colwidth", 100)
    return ctx
