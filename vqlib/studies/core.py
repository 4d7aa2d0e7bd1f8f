"""Cases and their runs: what every study does between its spec list and its figure.

A study is a list of :class:`Case` - a run spec with the labels that place it in a figure (arm, seed, K,
...). :func:`run_cases` runs them (from the cache when it can) into :class:`Runs`, which gives the table of
final metrics and the histories grouped for curves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..experiments import RunResult, RunSpec, run_many
from .arms import Arm

__all__ = ["Case", "Runs", "arm_case", "run_cases", "last_quarter_change", "learning_finished", "all_finished",
           "FINISH_WINDOW", "FINISH_TOLERANCE"]

#: the last fraction of a run's steps over which a metric must have stopped changing for the run to count as
#: finished learning (a quarter: 3,000 of 12,000 steps, 150 of 600)
FINISH_WINDOW = 0.25
#: the relative change over that window below which a metric counts as settled (the claims' equality band)
FINISH_TOLERANCE = 0.05


def last_quarter_change(history: pd.DataFrame, metric: str, window: float = FINISH_WINDOW) -> float:
    """The signed relative change of ``metric`` at the end of a run: its last value against its value at the last
    evaluation at least ``window`` (and at most twice that) of the steps before the end, over the larger of the
    two in magnitude (+: still rising). NaN when the history has no such evaluation (a sweep evaluated at its
    endpoints only; a metric that starts inside the window, like a deferred arm's code metrics after a late
    switch)."""
    curve = history[["step", metric]].dropna()
    if len(curve) < 2:
        return math.nan
    end_step, end = float(curve["step"].iloc[-1]), float(curve[metric].iloc[-1])
    # the last evaluation at least one window before the end, but not more than two: an evaluation long before
    # (a sweep's start or switch, when it records only its endpoints) says nothing of the end of training
    before = curve[(curve["step"] <= end_step * (1 - window)) & (curve["step"] < end_step)]
    if before.empty or before["step"].iloc[-1] < end_step * (1 - 2 * window):
        return math.nan
    then = float(before[metric].iloc[-1])
    scale = max(abs(end), abs(then))
    return 0.0 if scale == 0 else (end - then) / scale


def learning_finished(history: pd.DataFrame, metric: str, window: float = FINISH_WINDOW,
                      tolerance: float = FINISH_TOLERANCE) -> bool | None:
    """Whether ``metric`` has stopped changing at the end of a run: :func:`last_quarter_change` within
    ``tolerance``. None where that change cannot be measured: not checked, not "finished"."""
    change = last_quarter_change(history, metric, window)
    return None if math.isnan(change) else abs(change) < tolerance


@dataclass(frozen=True)
class Case:
    """A run spec and its labels (column name -> value) in the study's tables."""

    spec: RunSpec
    labels: dict[str, Any] = field(default_factory=dict, hash=False)


def arm_case(base: RunSpec, arm: Arm, seed: int = 0, **labels) -> Case:
    """``base`` with ``seed`` turned into ``arm``; labelled by the arm's id and label, then ``labels``."""
    spec = arm(RunSpec(base.data, base.model, base.train, seed))
    return Case(spec, {"arm": arm.id, "arm_label": arm.label, **labels})


def all_finished(*checks: bool | None) -> bool | None:
    """Several :func:`learning_finished` answers as one: False when any is False, None when any is None."""
    if any(c is False for c in checks):
        return False
    return None if any(c is None for c in checks) else True


class Runs:
    """Finished runs of a list of cases, in the cases' order."""

    def __init__(self, cases: list[Case], results: list[RunResult]):
        if len(cases) != len(results):
            raise ValueError("one result per case")
        self.cases, self.results = list(cases), list(results)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[tuple[Case, RunResult]]:
        return iter(zip(self.cases, self.results))

    def select(self, **where) -> Runs:
        """The runs whose labels (or ``seed``) equal every ``where`` value (an :class:`Arm` matches its id)."""
        where = {k: v.id if isinstance(v, Arm) else v for k, v in where.items()}
        keep = [(c, r) for c, r in self if all(_label(c, r, k) == v for k, v in where.items())]
        return Runs([c for c, _ in keep], [r for _, r in keep])

    def one(self, **where) -> RunResult:
        """The single run matching ``where``; an error when there is none or more than one."""
        found = self.select(**where)
        if len(found) != 1:
            raise LookupError(f"{len(found)} runs match {where}, expected exactly one")
        return found.results[0]

    def values(self, metric: str, **where) -> list[float]:
        """The final ``metric`` of every matching run (one value per seed, in order)."""
        return [float(r.final[metric]) for _, r in self.select(**where)]

    def mean_curve(self, metric: str, **where) -> pd.Series:
        """The mean over the matching runs of ``metric`` at every step where some run evaluated it."""
        frames = [r.history[["step", metric]] for _, r in self.select(**where)]
        return pd.concat(frames).groupby("step")[metric].mean().dropna() if frames else pd.Series(dtype=float)

    def histories(self, by: str, **where) -> dict[Any, list[pd.DataFrame]]:
        """Histories of the matching runs grouped by the label ``by`` (for :func:`vqlib.plotting.plot_curves`)."""
        groups: dict[Any, list[pd.DataFrame]] = {}
        for case, result in self.select(**where):
            groups.setdefault(_label(case, result, by), []).append(result.history)
        return groups

    def finished(self, metric: str, **where) -> bool | None:
        """Whether every matching run has finished learning ``metric`` (:func:`learning_finished`): False when
        any has not, None when some cannot be checked and none failed."""
        checks = [learning_finished(r.history, metric) for _, r in self.select(**where)]
        return all_finished(*checks) if checks else None

    @property
    def table(self) -> pd.DataFrame:
        """One row per run: its labels, seed, final metrics and training seconds."""
        rows = []
        for case, result in self:
            row = dict(case.labels)
            row["seed"] = result.spec.seed
            row.update(result.final)
            row["train_seconds"] = result.wall_time
            rows.append(row)
        return pd.DataFrame(rows)


def _label(case: Case, result: RunResult, name: str):
    if name in case.labels:
        return case.labels[name]
    if name == "seed":
        return result.spec.seed
    raise KeyError(f"no label {name!r}; the cases have {sorted(case.labels)} and seed")


def run_cases(cases: Iterable[Case], desc: str = "runs", progress: bool | None = None) -> Runs:
    """Run every case (cached runs take milliseconds) with one progress bar."""
    cases = list(cases)
    return Runs(cases, run_many([c.spec for c in cases], desc=desc, progress=progress))
