"""Notebook 02's headline at a budget where the baseline has finished learning: CIFAR-10, baseline against
deferral, on the whole training split, evaluated on more held-out images than the sweeps, at K = 256 and at one
large K (:func:`vqlib.studies.settings.cifar_converged`).

Why: at the sweeps' 600 steps the baseline's utilization is still climbing, so effects measured there describe a
run stopped early. The budget was chosen from long reference runs (seed 0 of these cases, 12,000 steps at the
default scale: 20x the sweeps'), whose whole curves the notebook shows: at K = 256 the baseline recovers and
settles; at the large K it is still climbing at the end, which the claims' ``finished`` column and the prose
report instead of a settled effect.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data import prepare
from . import settings, views
from .arms import BASELINE, DEFERRED
from .claims import FINISHED_WORDS, Claim
from .context import Context
from .core import FINISH_TOLERANCE, FINISH_WINDOW, Case, Runs, all_finished, arm_case, last_quarter_change
from .prose import Facts, claim_facts, facts, join

__all__ = ["METRICS", "SIZES", "cases", "sizes", "finish_table", "claims", "curve_facts", "caption", "centred_spreads",
           "SETTLED"]

#: (metric, label, key, the paper's direction for deferred against baseline) of every headline row
METRICS = (("utilization", "utilization", "utilization", "higher"),
           ("perplexity", "perplexity", "perplexity", "higher"),
           ("code_cosine_distance", "code spread (cos)", "spread", "higher"),
           ("shrinkage_euclidean", "codebook/embedding spread", "shrinkage", "higher"),
           ("recon_mse", "reconstruction MSE", "recon", "lower"))
#: the two codebook sizes' names in the facts and claim keys
SIZES = ("small", "large")
#: a curve has "settled" from the first step where it stays within this fraction of its final value
SETTLED = 0.05


def sizes(ctx: Context) -> dict[str, tuple[int, int]]:
    """{"small": (K, seeds per arm), "large": (K, seeds per arm)}: the tokenizer's K with the headline's seeds,
    the scale's ``converged_large_k`` with its own (fewer: each step costs more)."""
    s = ctx.scale
    return {"small": (settings.cifar_model(ctx).num_codes, s.image_seeds),
            "large": (s.converged_large_k, s.converged_large_k_seeds)}


def cases(ctx: Context) -> list[Case]:
    """Baseline and deferral at both sizes (labels: arm, K, size); seed 0 is the long reference run."""
    out = []
    for size, (k, seeds) in sizes(ctx).items():
        base = settings.cifar_converged(ctx, k)
        out += [arm_case(base, arm, seed, K=k, size=size) for arm in (BASELINE, DEFERRED) for seed in range(seeds)]
    return out


def finish_table(runs: Runs) -> pd.DataFrame:
    """One row per K and arm: seeds, and for each metric the final mean over seeds and the largest relative change
    over the last quarter of the steps among the seeds (signed: + still rising), and whether every seed has
    finished learning on it."""
    rows = []
    for (k, arm_label), group in runs.table.groupby(["K", "arm_label"], sort=False):
        picked = runs.select(K=k, arm_label=arm_label)
        row = {"K": k, "arm": arm_label, "seeds": len(picked)}
        for metric, label, _, _ in METRICS:
            changes = [last_quarter_change(r.history, metric) for _, r in picked]
            row[label] = float(group[metric].mean())
            row[f"{label}: change, last quarter"] = max(changes, key=lambda c: abs(c) if c == c else -1)
            row[f"{label}: finished"] = picked.finished(metric)
        rows.append(row)
    return pd.DataFrame(rows)


_CENTRED: dict = {}


def centred_spreads(runs: Runs) -> list[float]:
    """Per run, the codes' cosine spread measured from the embeddings' mean instead of the origin
    (:func:`vqlib.studies.views.centred_code_spread`, over the run's test images); computed once per process."""
    out = []
    for _, result in runs:
        if result.key not in _CENTRED:
            _CENTRED[result.key] = views.centred_code_spread(result, prepare(result.spec.data).eval)
        out.append(_CENTRED[result.key])
    return out


def claims(runs: Runs) -> list[Claim]:
    """Deferred against baseline on every metric at both sizes (keys ``<size>_<key>``), each with whether its runs
    have finished learning."""
    out = []
    for size in SIZES:
        picked = runs.select(size=size)
        if not len(picked):
            continue
        k = picked.cases[0].labels["K"]
        steps = picked.results[0].spec.train.steps
        for metric, label, key, paper in METRICS:
            out.append(Claim(f"CIFAR-10 K={k}, {steps:,} steps, whole training set: {label}, deferred vs baseline",
                             paper, picked.values(metric, arm=DEFERRED), picked.values(metric, arm=BASELINE),
                             key=f"{size}_{key}",
                             finished=all_finished(picked.finished(metric, arm=DEFERRED),
                                                   picked.finished(metric, arm=BASELINE))))
        # the paper's code spread depends on where the origin lies; measured from the embeddings' mean (implied)
        out.append(Claim(f"CIFAR-10 K={k}, {steps:,} steps: code spread (cos, centred on the embeddings' mean), "
                         "deferred vs baseline", "higher", centred_spreads(picked.select(arm=DEFERRED)),
                         centred_spreads(picked.select(arm=BASELINE)), stated=False, key=f"{size}_centred_spread"))
    return out


def _settled_from(curve: pd.Series) -> float:
    """The first step from which the curve stays within :data:`SETTLED` of its final value (NaN where that stretch
    is shorter than the finish window: it has not settled)."""
    if len(curve) < 2:
        return math.nan
    off = (curve - curve.iloc[-1]).abs() > SETTLED * abs(curve.iloc[-1])
    outside = np.flatnonzero(off.to_numpy())
    first = 0 if outside.size == 0 else outside[-1] + 1
    step = float(curve.index[first]) if first < len(curve) else math.nan
    # settled only if it stayed so over at least the finish window (a curve still climbing ends "settled" for one
    # evaluation)
    return step if step <= float(curve.index[-1]) * (1 - FINISH_WINDOW) else math.nan


def _at_step(curve: pd.Series, step: int) -> float:
    """The curve's value at the last evaluation at or before ``step``."""
    before = curve[curve.index <= step]
    return float(before.iloc[-1]) if len(before) else math.nan


def curve_facts(runs: Runs, short_steps: int) -> Facts:
    """What the prose states of the long curves, per size (K, steps, seeds, T_c) and arm: final means, where the
    mean utilization and perplexity settled, their values at the sweeps' budget ``short_steps`` (the step where
    the short runs stop), the change over the last quarter, and the claims rows (``claims.<size>_<key>``)."""
    out = {"short_steps": short_steps, "claims": claim_facts(claims(runs))}
    for size in SIZES:
        picked = runs.select(size=size)
        if not len(picked):
            continue
        spec = picked.results[0].spec
        part = {"K": picked.cases[0].labels["K"], "steps": spec.train.steps, "seeds": len(picked) // 2,
                "t_c": DEFERRED.t_c(spec.train.steps), "eval_images": spec.data.eval_images}
        for role, arm in (("baseline", BASELINE), ("deferred", DEFERRED)):
            arm_runs = picked.select(arm=arm)
            numbers = {m: float(np.mean(arm_runs.values(m))) for m, *_ in METRICS}
            for m in ("utilization", "perplexity", "recon_mse"):
                curve = arm_runs.mean_curve(m)
                numbers[f"{m}_settled"] = _settled_from(curve)
                numbers[f"{m}_at_short"] = _at_step(curve, short_steps)
                numbers[f"{m}_change"] = max((last_quarter_change(r.history, m) for _, r in arm_runs), key=abs)
                numbers[f"{m}_finished"] = FINISHED_WORDS[arm_runs.finished(m)]
            numbers["seed_utilization"] = sorted(arm_runs.values("utilization"))
            part[role] = numbers
        part["seconds"] = float(np.mean(picked.table["train_seconds"]))
        band = f"{FINISH_TOLERANCE * 100:.0f} %"
        unfinished = [f"the {role}'s {label}" for role, arm in (("baseline", BASELINE), ("deferred", DEFERRED))
                      for metric, label, _, _ in METRICS if picked.select(arm=arm).finished(metric) is False]
        part["unfinished"] = unfinished
        part["finished_text"] = (f"every measure of both arms changes by less than {band} over the last quarter of "
                                 "the steps" if not unfinished else
                                 f"still changing by {band} or more over the last quarter: {join(unfinished)}")
        out[size] = part
    if "small" in out and "large" in out:
        out["large"]["cost"] = out["large"]["seconds"] / out["small"]["seconds"]
    return facts(out)





def caption(runs: Runs, source: str) -> str:
    """The provenance line of the long curves: the data (``source``: where CIFAR-10 was read), the split and the
    evaluation images, each size's seeds."""
    spec = runs.results[0].spec
    split = "whole training split" if spec.data.train_images is None else f"{spec.data.train_images:,} training images"
    seeds = "; ".join(f"K={picked.cases[0].labels['K']}: seeds {sorted(set(picked.table['seed']))}"
                      for picked in (runs.select(size=size) for size in SIZES) if len(picked))
    return f"{source}; {split}, {spec.data.eval_images:,} test images; {seeds}"
