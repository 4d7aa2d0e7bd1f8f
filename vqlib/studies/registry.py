"""One registry of what every notebook runs: its case lists and its claims, from which ``make runs``
(:mod:`~vqlib.studies.every_run`), the summary figure (:mod:`~vqlib.studies.summary`) and ``make gpu-check``
all derive, so that no list of a notebook's runs is kept anywhere else.

Each notebook's study module provides

- ``case_lists(ctx) -> {name: [Case, ...]}``: every run list its figures draw (the same functions the notebook
  calls, so the lists cannot disagree);
- ``study_claims(ctx, **options) -> [Claim, ...]`` where it has a claims table: its claims, from its (cached)
  runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ..experiments import RunSpec
from . import diagnosis, fixes, generation, mixture, real_images, remedies
from .context import Context
from .core import Case

__all__ = ["Notebook", "NOTEBOOKS", "notebook", "case_lists", "notebook_specs"]


@dataclass(frozen=True)
class Notebook:
    """A notebook (its file stem), its short name in summary tables and the study module behind it."""

    stem: str
    short: str
    module: ModuleType

    def case_lists(self, ctx: Context) -> dict[str, list[Case]]:
        return self.module.case_lists(ctx)

    @property
    def has_claims(self) -> bool:
        return hasattr(self.module, "study_claims")

    @property
    def study_claims(self) -> Callable:
        return self.module.study_claims


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01_synthetic_gaussian_mixture", "01 mixture", mixture),
    Notebook("02_real_images", "02 real images", real_images),
    Notebook("03_fixes", "03 fixes", fixes),
    Notebook("04_generation_diversity", "04 generation", generation),
    Notebook("05_diagnose_your_tokenizer", "05 diagnosis", diagnosis),
    Notebook("06_modern_remedies", "06 remedies", remedies),
)


def notebook(stem_or_short: str) -> Notebook:
    """The registered notebook with this file stem or short name; an unknown one is an error listing them."""
    for entry in NOTEBOOKS:
        if stem_or_short in (entry.stem, entry.short):
            return entry
    raise ValueError(f"unknown notebook {stem_or_short!r}; choose one of {[n.stem for n in NOTEBOOKS]}")


def case_lists(ctx: Context) -> dict[str, dict[str, list[Case]]]:
    """Every notebook's case lists: {notebook stem: {list name: cases}}."""
    return {entry.stem: entry.case_lists(ctx) for entry in NOTEBOOKS}


def notebook_specs(ctx: Context) -> dict[str, list[RunSpec]]:
    """Every training run each notebook asks for (without loading any data), in notebook order, each spec
    once per notebook (a notebook may reuse another's runs: they are the same specs)."""
    return {stem: list(dict.fromkeys(case.spec for cases in lists.values() for case in cases))
            for stem, lists in case_lists(ctx).items()}
