"""Claims of the paper against what a study measured: one table, one verdict rule, used by every notebook.

A :class:`Claim` compares two sets of measurements - ``first`` and ``second``, one value per seed (or per
paired setting, such as the input dimension) - and states the direction the paper predicts for first
relative to second: ``"higher"``, ``"lower"`` or ``"equal"``.

The verdict rule (:func:`verdict`):

1. *Direction.* With m1, m2 the means, the relative effect is r = (m1 - m2) / max(|m1|, |m2|) (0 when both
   are 0). The measured direction is ``equal`` when |r| < :data:`EQUAL_TOLERANCE` (5 %), else ``higher`` or
   ``lower`` by the sign of r.
2. *Agreement across seeds.* When both sides have the same number n >= 2 of values, they are paired by
   position (seed i against seed i) and each pair gets a direction by the same rule; when the counts differ,
   every value of one side is compared with every value of the other. If any comparison points another way
   than the means, the seeds disagree.
3. *Verdict.* ``inconclusive`` when the seeds disagree; otherwise ``agrees`` when the measured direction is
   the paper's, ``disagrees`` when it is not. With a single value per side there is nothing to disagree and
   the verdict rests on that one comparison (the table shows n).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = ["Claim", "claims_table", "direction", "verdict", "EQUAL_TOLERANCE", "DIRECTIONS"]

#: relative difference below which two means count as equal
EQUAL_TOLERANCE = 0.05
DIRECTIONS = ("higher", "lower", "equal")


def direction(first: float, second: float, tolerance: float = EQUAL_TOLERANCE) -> str:
    """``higher``, ``lower`` or ``equal`` (relative difference below ``tolerance``) of first against second."""
    if math.isnan(first) or math.isnan(second):
        return "undefined"
    scale = max(abs(first), abs(second))
    relative = 0.0 if scale == 0 else (first - second) / scale
    if abs(relative) < tolerance:
        return "equal"
    return "higher" if relative > 0 else "lower"


def _values(values, name: str) -> list[float]:
    if isinstance(values, (int, float)):
        values = [values]
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"a claim needs at least one {name} value")
    return out


@dataclass(frozen=True)
class Claim:
    """``text`` names what is compared ("utilization: deferred vs baseline"); ``paper`` is the direction the
    paper predicts for ``first`` relative to ``second``; each side holds one value per seed."""

    text: str
    paper: str
    first: Sequence[float]
    second: Sequence[float]

    def __post_init__(self):
        if self.paper not in DIRECTIONS:
            raise ValueError(f"paper direction must be one of {DIRECTIONS}, got {self.paper!r}")
        object.__setattr__(self, "first", tuple(_values(self.first, "first")))
        object.__setattr__(self, "second", tuple(_values(self.second, "second")))


def verdict(claim: Claim, tolerance: float = EQUAL_TOLERANCE) -> dict:
    """The row of :func:`claims_table` for one claim (see the module docstring for the rule)."""
    first, second = claim.first, claim.second
    m1, m2 = sum(first) / len(first), sum(second) / len(second)
    measured = direction(m1, m2, tolerance)
    if len(first) == len(second):
        comparisons = [direction(a, b, tolerance) for a, b in zip(first, second)]
    else:
        comparisons = [direction(a, b, tolerance) for a in first for b in second]
    consistent = sum(c == measured for c in comparisons)
    if measured == "undefined":
        outcome = "inconclusive"
    elif consistent < len(comparisons):
        outcome = "inconclusive"
    else:
        outcome = "agrees" if measured == claim.paper else "disagrees"
    return {"claim": claim.text, "paper": claim.paper, "n": f"{len(first)} vs {len(second)}", "first": m1,
            "second": m2, "ratio": m1 / m2 if m2 != 0 else math.nan, "measured": measured,
            "seeds agree": f"{consistent}/{len(comparisons)}", "verdict": outcome}


def claims_table(claims: Iterable[Claim], tolerance: float = EQUAL_TOLERANCE) -> pd.DataFrame:
    """One row per claim: the claim, the paper's direction, n (values per side), the means of first and
    second, their ratio, the measured direction, how many seed comparisons point the same way, and the
    verdict (agrees / disagrees / inconclusive)."""
    rows = [verdict(c, tolerance) for c in claims]
    if not rows:
        raise ValueError("claims_table needs at least one claim")
    return pd.DataFrame(rows)
