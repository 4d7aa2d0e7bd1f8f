"""Claims of the paper against what a study measured: one table, one verdict rule, used by every notebook.

A :class:`Claim` compares two sets of measurements - ``first`` and ``second``, one value per seed (or per
paired setting, such as the input dimension) - and states the direction the paper predicts for first
relative to second: ``"higher"``, ``"lower"`` or ``"equal"``.

Every row of :func:`claims_table` shows n, the two means, an effect size with an interval (column ``interval``; how
it was made, bootstrap or min-max, in ``interval kind``: a min-max range over 3 seeds is not a 95 % interval, and
neither the table nor the summary figure presents it as one), and a verdict:

1. *Effect.* The ratio of the means m1 / m2 when every value is positive, else their difference m1 - m2.
2. *Interval.* With n >= :data:`BOOTSTRAP_MIN_N` values on each side, a 95 % percentile bootstrap interval of
   that effect over seeds (pairs resampled together when the sides are paired, i.e. have the same count;
   each side resampled on its own otherwise; 4,000 resamples, fixed seed). With fewer, the min-max range of
   the per-seed effects (seed i against seed i when paired, every value against every other otherwise),
   widened to include the effect of the means; the column ``interval`` says which. One value per side gives
   a point.
3. *Equality band.* Two values are "equal" when they differ by less than :data:`EQUAL_TOLERANCE` (5 %) of the
   larger in magnitude: a ratio in (0.95, 1/0.95), a difference smaller than 5 % of max(|m1|, |m2|).
4. *Finished learning.* Column ``finished``: "yes" when every run behind the row has stopped changing on the
   row's measure over the last quarter of its steps (:func:`vqlib.studies.core.learning_finished`), "no" when
   some run is still changing (the verdict then describes a run stopped early, not where it would settle),
   "not checked" where the study did not check.
5. *Verdict.* ``higher`` or ``lower`` claims *agree* when the whole interval lies beyond the band on the
   predicted side, *disagree* when it lies wholly on the band or the other side, and are *inconclusive* when
   it overlaps the band's edge. ``equal`` claims agree when the interval lies inside the band, disagree when
   it lies wholly outside it, and are inconclusive otherwise.
6. *One seed out.* Column ``one seed out``: "same" when leaving out any one seed (a pair, when paired) leaves
   the verdict as it is, "changes" when it does not - such a verdict is within noise: on another machine's
   arithmetic (see the README, "Reproducibility") or with other seeds it can read differently; "n/a" below
   three values per side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Claim", "claims_table", "direction", "verdict", "effect_interval", "EQUAL_TOLERANCE", "DIRECTIONS",
           "BOOTSTRAP_MIN_N", "CONFIDENCE", "FINISHED_WORDS"]

#: relative difference below which two means count as equal
EQUAL_TOLERANCE = 0.05
DIRECTIONS = ("higher", "lower", "equal")
#: values per side from which the interval is a bootstrap over seeds rather than the min-max range
BOOTSTRAP_MIN_N = 5
#: the coverage of the bootstrap interval (its percentiles: 2.5 and 97.5), as the prose states it
CONFIDENCE = 0.95
_RESAMPLES = 4000
#: the ``finished`` column's words for Claim.finished
FINISHED_WORDS = {True: "yes", False: "no", None: "not checked"}


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
    paper predicts for ``first`` relative to ``second``; each side holds one value per seed. ``stated=False``
    marks a direction the paper's argument implies for a measure it does not report (the table says so)."""

    text: str
    paper: str
    first: Sequence[float]
    second: Sequence[float]
    stated: bool = True  # False: the paper implies the direction but never reports this measure
    key: str = ""  # a short name the notebook's computed prose refers to (vqlib.studies.prose.claim_facts)
    finished: bool | None = None  # have the runs behind both sides finished learning? None: not checked

    def __post_init__(self):
        if self.paper not in DIRECTIONS:
            raise ValueError(f"paper direction must be one of {DIRECTIONS}, got {self.paper!r}")
        object.__setattr__(self, "first", tuple(_values(self.first, "first")))
        object.__setattr__(self, "second", tuple(_values(self.second, "second")))


def _effect(first: np.ndarray, second: np.ndarray, ratio: bool) -> np.ndarray:
    """Effect of the means along the last axis (ratio or difference)."""
    m1, m2 = first.mean(-1), second.mean(-1)
    return m1 / m2 if ratio else m1 - m2


def effect_interval(first: Sequence[float], second: Sequence[float], bootstrap_from: int = BOOTSTRAP_MIN_N) -> dict:
    """Effect of ``first`` against ``second`` with its interval (see the module docstring); a bootstrap interval
    from ``bootstrap_from`` values per side on.

    Returns ``{"kind": "ratio" | "difference", "effect", "low", "high", "interval"}``."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    ratio = bool((a > 0).all() and (b > 0).all())
    effect = float(_effect(a, b, ratio))
    paired = len(a) == len(b)
    if min(len(a), len(b)) >= bootstrap_from:
        gen = np.random.default_rng(0)
        if paired:
            picks = gen.integers(0, len(a), (_RESAMPLES, len(a)))
            samples = _effect(a[picks], b[picks], ratio)
        else:
            samples = _effect(a[gen.integers(0, len(a), (_RESAMPLES, len(a)))],
                              b[gen.integers(0, len(b), (_RESAMPLES, len(b)))], ratio)
        low, high = np.percentile(samples, [2.5, 97.5])
        how = f"bootstrap 95 % ({'paired' if paired else 'unpaired'})"
    else:
        if paired:
            per_seed = a / b if ratio else a - b
        else:
            per_seed = (a[:, None] / b[None, :] if ratio else a[:, None] - b[None, :]).ravel()
        low, high = min(per_seed.min(), effect), max(per_seed.max(), effect)
        how = "point" if len(a) == len(b) == 1 else f"min-max of {per_seed.size} {'pairs' if paired else 'comparisons'}"
    return {"kind": "ratio" if ratio else "difference", "effect": effect, "low": float(low), "high": float(high),
            "interval": how}


def _side(value: float, kind: str, scale: float, tolerance: float) -> int:
    """-1 below the equality band, 0 inside it, +1 above it (for an effect ``value``)."""
    if kind == "ratio":
        above, below = value > 1 / (1 - tolerance), value < 1 - tolerance
    else:
        above, below = value > tolerance * scale, value < -tolerance * scale
    return 1 if above else -1 if below else 0


def verdict(claim: Claim, tolerance: float = EQUAL_TOLERANCE) -> dict:
    """The row of :func:`claims_table` for one claim (see the module docstring for the rule)."""
    first, second = claim.first, claim.second
    m1, m2 = sum(first) / len(first), sum(second) / len(second)
    measured = direction(m1, m2, tolerance)
    row = {"claim": claim.text, "expected": claim.paper,
           "source": "the paper" if claim.stated else "implied, not reported by the paper",
           "n": f"{len(first)} vs {len(second)}", "first": m1, "second": m2,
           "finished": FINISHED_WORDS[claim.finished]}
    if measured == "undefined":
        return {**row, "effect": "", "effect size": math.nan, "interval": "", "interval kind": "",
                "measured": measured, "verdict": "inconclusive", "one seed out": "n/a"}
    e = effect_interval(first, second)
    outcome = _outcome(claim.paper, first, second, tolerance)
    return {**row, "effect": e["kind"], "effect size": e["effect"],
            "interval": f"[{_fmt(e['low'])}, {_fmt(e['high'])}]", "interval kind": e["interval"],
            "measured": measured, "verdict": outcome, "one seed out": _one_seed_out(claim, outcome, tolerance)}


def _outcome(paper: str, first: Sequence[float], second: Sequence[float], tolerance: float,
             bootstrap_from: int = BOOTSTRAP_MIN_N) -> str:
    """The verdict word of the rule (module docstring, step 5) for these values."""
    e = effect_interval(first, second, bootstrap_from)
    m1, m2 = sum(first) / len(first), sum(second) / len(second)
    scale = max(abs(m1), abs(m2))
    sides = {_side(e["low"], e["kind"], scale, tolerance), _side(e["high"], e["kind"], scale, tolerance)}
    if paper == "equal":
        return "agrees" if sides == {0} else "disagrees" if 0 not in sides and len(sides) == 1 else "inconclusive"
    wanted = 1 if paper == "higher" else -1
    return "agrees" if sides == {wanted} else "disagrees" if wanted not in sides else "inconclusive"


def _one_seed_out(claim: Claim, outcome: str, tolerance: float) -> str:
    """Does the verdict survive leaving out any one seed? "same" when every such verdict equals ``outcome``,
    "changes" when one differs (a verdict that one seed - or a change of the arithmetic's last bits, which moves
    early quantization's runs like another seed - can move is within noise), "n/a" below three values per side.
    The interval keeps its kind: a bootstrap row is recomputed with a bootstrap over the seeds that remain."""
    a, b = list(claim.first), list(claim.second)
    if min(len(a), len(b)) < 3:
        return "n/a"
    bootstrap_from = BOOTSTRAP_MIN_N - 1 if min(len(a), len(b)) >= BOOTSTRAP_MIN_N else BOOTSTRAP_MIN_N
    if len(a) == len(b):  # paired: drop seed i on both sides
        variants = [(a[:i] + a[i + 1:], b[:i] + b[i + 1:]) for i in range(len(a))]
    else:
        variants = ([(a[:i] + a[i + 1:], b) for i in range(len(a))] + [(a, b[:j] + b[j + 1:]) for j in range(len(b))])
    changed = any(_outcome(claim.paper, x, y, tolerance, bootstrap_from) != outcome for x, y in variants)
    return "changes" if changed else "same"


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def claims_table(claims: Iterable[Claim], tolerance: float = EQUAL_TOLERANCE) -> pd.DataFrame:
    """One row per claim: the claim, the expected direction and whether the paper states it or only implies it,
    n (values per side), the means of first and
    second, the effect (ratio, or difference when a value is not positive) with its interval and how it was
    made, the measured direction of the means, and the verdict (agrees / disagrees / inconclusive)."""
    rows = [verdict(c, tolerance) for c in claims]
    if not rows:
        raise ValueError("claims_table needs at least one claim")
    return pd.DataFrame(rows)
