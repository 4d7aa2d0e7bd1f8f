"""Notebook 05's figures: the one-page report of :mod:`vqlib.diagnose` for a diagnosed tokenizer."""

from __future__ import annotations

from pathlib import Path

from ..studies.context import Context
from ..studies.diagnosis import Diagnosed
from .core import save_figure

__all__ = ["report_page"]


def report_page(diagnosed: Diagnosed, ctx: Context) -> Path:
    """The one-page report (:meth:`vqlib.diagnose.Report.plot`) of a
    :class:`~vqlib.studies.diagnosis.Diagnosed` tokenizer, saved under the figure name its study gives it, with
    its data and seed as provenance. Returns the PNG path."""
    return save_figure(diagnosed.report.plot(), diagnosed.figure, diagnosed.provenance, ctx.name)
