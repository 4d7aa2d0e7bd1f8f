"""Notebook 05's figures: the one-page report of :mod:`vqlib.diagnose` for a diagnosed tokenizer."""

from __future__ import annotations

from pathlib import Path

from ..studies.arms import ARMS
from ..studies.context import Context
from ..studies.diagnosis import Diagnosed
from .core import save_figure

__all__ = ["report_page", "color_of"]


def color_of(diagnosed: Diagnosed) -> str | None:
    """The colour of the diagnosed tokenizer's arm (``labels["arm"]``: the CIFAR-10 tokenizers of notebooks
    02-03), as in every other figure; None for a tokenizer that is no arm of the registry (the
    vector-quantize-pytorch runs of notebook 05), whose page keeps the report's neutral colour."""
    arm_id = diagnosed.labels.get("arm")
    return ARMS[arm_id].color if arm_id in ARMS else None


def report_page(diagnosed: Diagnosed, ctx: Context) -> Path:
    """The one-page report (:meth:`vqlib.diagnose.Report.plot`) of a
    :class:`~vqlib.studies.diagnosis.Diagnosed` tokenizer, in its arm's colour where it is one
    (:func:`color_of`), saved under the figure name its study gives it, with its data and seed as provenance.
    Returns the PNG path."""
    return save_figure(diagnosed.report.plot(color=color_of(diagnosed)), diagnosed.figure, diagnosed.provenance,
                       ctx.name)
