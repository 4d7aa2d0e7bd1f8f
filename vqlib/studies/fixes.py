"""Notebook 03: deferred quantization against the classic remedies - the arms, datasets, figures' spec
lists, the results table, the claims and the numbers its prose states.

Two datasets: the 64-component mixture of notebook 01 and CIFAR-10 with the tokenizer of notebook 02 (same
specs, so their runs come from the cache). Every arm keeps the total step budget. The main arms keep curves
over training; the others are evaluated at the start, the switch and the end.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..data import prepare
from ..experiments import RunSpec
from . import prose, settings
from .arms import BASELINE, DEFERRED, Arm, arm
from .claims import Claim, claims_table, direction
from .context import Context
from .core import Case, Runs, all_finished, arm_case
from .settings import CIFAR10, MIXTURE

__all__ = ["DATASETS", "FIX_ARMS", "REINIT_ARMS", "MAIN_ARMS", "TIMING", "TIMING_ARMS", "CAPACITY", "SUMMARY_COLUMNS",
           "base",
           "seeds", "run_spec", "arm_cases", "capacity_cases", "sources", "describe", "summary_table",
           "write_results", "timing_table", "arm_stats", "main_histories", "capacity_table", "headline_table",
           "arm_claims", "timing_claims", "REINIT_MEASURES", "capacity_claims", "claims", "timing_facts", "arms_facts",
           "capacity_facts",
           "guidance_facts", "evaluation_facts"]

DATASETS = (MIXTURE, CIFAR10)

# Every arm of the comparison, named once here; everything below passes the Arm objects.
EARLY_NORMAL, EARLY_NORMAL_EMA = arm("early_normal"), arm("early_normal_ema")
DEFERRED_05, DEFERRED_10, DEFERRED_25, DEFERRED_50 = (arm(f"deferred_{pct:02d}") for pct in (5, 10, 25, 50))
NORMAL_AT_SWITCH, SAMPLE_AT_SWITCH = arm("deferred_normal_init"), arm("deferred_sample_init")
DEFERRED_DEAD_CODE, EARLY_DEAD_CODE = arm("deferred_dead_code"), arm("early_dead_code")
NO_EMA, COSINE, LOWDIM, PEER = arm("early_no_ema"), arm("early_cosine"), arm("early_lowdim"), arm("vqtorch")
EARLY_MATCHED, MATCHED_AT_SWITCH = arm("early_matched_normal"), arm("deferred_matched_normal")

#: every arm of the comparison, in table order
FIX_ARMS: tuple[Arm, ...] = (BASELINE, EARLY_NORMAL, EARLY_NORMAL_EMA, EARLY_MATCHED, DEFERRED_05, DEFERRED_10,
                             DEFERRED_25, DEFERRED, DEFERRED_50, NORMAL_AT_SWITCH, MATCHED_AT_SWITCH, SAMPLE_AT_SWITCH,
                             DEFERRED_DEAD_CODE, NO_EMA, EARLY_DEAD_CODE, COSINE, LOWDIM, PEER)
#: arms whose curves over training are kept (evaluated every ``eval_every`` steps)
MAIN_ARMS: tuple[Arm, ...] = (BASELINE, EARLY_NORMAL, DEFERRED)
#: the lengths of the continuous phase (early quantization: none), shortest first
TIMING: tuple[Arm, ...] = (BASELINE, DEFERRED_05, DEFERRED_10, DEFERRED_25, DEFERRED, DEFERRED_50)
#: T_c as a percentage of the budget by arm id (0: early quantization), from the arms themselves
TIMING_ARMS: dict[str, int] = {a.id: a.t_c_percent for a in TIMING}
#: is it the timing or the re-initialization? the arms of that question's figure
REINIT_ARMS: tuple[Arm, ...] = (BASELINE, EARLY_DEAD_CODE, DEFERRED, DEFERRED_DEAD_CODE)
#: remedies on top of early quantization that the prose says do not fix the collapse
NON_FIXES: tuple[Arm, ...] = (NO_EMA, COSINE, LOWDIM)
#: encoder capacity with and without deferral: (knob, values), each at the sweep seeds
CAPACITY = {MIXTURE: ("width", (4, 64, 256)), CIFAR10: ("channels", (16, 64))}

#: the short name of each dataset in fact and claim keys (a template says {cifar.deferred.utilization})
_KEYS = {MIXTURE: "mixture", CIFAR10: "cifar"}
#: the metrics whose per-arm means the facts hold
_METRICS = ("utilization", "perplexity", "shrinkage_euclidean", "recon_mse", "embedding_effective_rank",
            "coverage")


def _arm(which: Arm | str) -> Arm:
    return which if isinstance(which, Arm) else arm(which)


def base(dataset: str, ctx: Context) -> RunSpec:
    """The base spec of a dataset: the 64-component mixture (notebook 01's figure 6) or the CIFAR-10
    tokenizer (notebook 02's figure 1)."""
    if dataset == MIXTURE:
        return settings.big_mixture_base(ctx)
    if dataset == CIFAR10:
        return settings.cifar_base(ctx)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")


def seeds(dataset: str, ctx: Context, which: Arm | str = BASELINE) -> list[int]:
    """The seeds of an arm on ``dataset``: every headline seed for the baseline and deferral (the runs of
    notebooks 01 and 02), ``Scale.image_sweep_seeds`` for the other arms on CIFAR-10."""
    s = ctx.scale
    if dataset == MIXTURE:
        return list(range(s.seeds))
    return list(range(s.image_seeds if _arm(which) in (BASELINE, DEFERRED) else s.image_sweep_seeds))


def run_spec(dataset: str, which: Arm | str, seed: int, ctx: Context) -> RunSpec:
    """The spec of one arm (an :class:`Arm` or its id) and seed on a dataset, exactly as this study runs it
    (notebooks 04 and 05 take their tokenizers from here)."""
    a = _arm(which)
    spec = base(dataset, ctx)
    if a not in MAIN_ARMS:
        spec = dataclasses.replace(spec, train=settings.endpoints_only(spec.train))
    return a(dataclasses.replace(spec, seed=seed))


def arm_cases(ctx: Context) -> list[Case]:
    """Every arm of FIX_ARMS on both datasets, every seed (labels: dataset, arm, arm_label, family, T_c %)."""
    cases = []
    for dataset in DATASETS:
        for a in FIX_ARMS:
            for seed in seeds(dataset, ctx, a):
                cases.append(Case(run_spec(dataset, a, seed, ctx),
                                  {"dataset": dataset, "arm": a.id, "arm_label": a.label, "family": a.family,
                                   "T_c %": a.t_c_percent if a in TIMING else np.nan}))
    return cases


def capacity_cases(ctx: Context) -> list[Case]:
    """Encoder width (mixture) and channels (CIFAR-10: notebook 02's runs), baseline and deferred, the sweep seeds
    (labels: dataset, capacity, value, arm)."""
    cases = []
    for dataset, (knob, values) in CAPACITY.items():
        spec = base(dataset, ctx)
        spec = dataclasses.replace(spec, train=settings.endpoints_only(spec.train))
        for value in values:
            sized = dataclasses.replace(spec, model=dataclasses.replace(spec.model, **{knob: value}))
            for a in (BASELINE, DEFERRED):
                cases += [arm_case(sized, a, seed, dataset=dataset, capacity=f"{knob} {value}", value=value)
                          for seed in _capacity_seeds(dataset, ctx)]
    return cases


def _capacity_seeds(dataset: str, ctx: Context) -> list[int]:
    s = ctx.scale
    return list(range(s.sweep_seeds if dataset == MIXTURE else s.image_sweep_seeds))


# ---- what the figures say they show ---------------------------------------------------------------------

def sources(ctx: Context) -> prose.Facts:
    """What the figures' provenance lines name: ``mixture`` ("64-component mixture"), ``dim``, ``cifar`` (where
    CIFAR-10 was read from, up to the first comma of its source), ``cifar_source`` (the whole source),
    ``cifar_images`` (training images), ``mixture_seeds`` and ``cifar_seeds`` (which seeds, in words)."""
    mixture = base(MIXTURE, ctx).data
    cifar = prepare(base(CIFAR10, ctx).data)
    return prose.facts(mixture=f"{mixture.num_components}-component mixture", dim=mixture.dim,
                       cifar=cifar.source.partition(",")[0], cifar_source=cifar.source, cifar_images=cifar.num_train,
                       mixture_seeds=f"seeds {seeds(MIXTURE, ctx)}",
                       cifar_seeds=f"seeds {seeds(CIFAR10, ctx)} for baseline and deferred, "
                                   f"{seeds(CIFAR10, ctx, EARLY_NORMAL)} for the others")


def describe(ctx: Context) -> str:
    """The setting in two lines: steps and seeds per dataset, and where CIFAR-10 is read from."""
    s, where = ctx.scale, sources(ctx)
    return (f"scale {ctx.name}: mixture {s.mixture_steps} steps x {where.mixture_seeds}; "
            f"CIFAR-10 {s.image_steps} steps x {where.cifar_seeds}\n"
            f"CIFAR-10 source: {paths.relative_text(where.cifar_source)}")


# ---- tables -----------------------------------------------------------------------------------------------

#: metric -> column title of the results table (figures/03_results.csv)
SUMMARY_COLUMNS = {"utilization": "utilization", "perplexity": "perplexity", "dead_codes": "dead codes",
                   "code_cosine_distance": "code spread (cos)", "code_euclidean_distance": "code spread (Euclid.)",
                   "shrinkage_euclidean": "shrinkage ratio", "embedding_effective_rank": "embedding eff. rank",
                   "recon_mse": "recon MSE", "train_seconds": "wall time (s)"}


def summary_table(runs: Runs, decimals: int | None = None) -> pd.DataFrame:
    """Means over seeds of every arm on every dataset (with the number of seeds and the std of the
    reconstruction error), rounded to ``decimals`` when given: the table of figures/03_results.csv."""
    table = runs.table
    grouped = table.groupby(["dataset", "arm_label"], sort=False)
    summary = grouped[list(SUMMARY_COLUMNS)].mean()
    summary.insert(0, "seeds", grouped.size())
    summary["recon MSE std"] = grouped["recon_mse"].std(ddof=0)
    summary = summary.rename(columns=SUMMARY_COLUMNS).reset_index().rename(columns={"arm_label": "arm"})
    return summary if decimals is None else summary.round(decimals)


def write_results(runs: Runs, ctx: Context) -> Path:
    """Write :func:`summary_table` to ``<figures>/03_results.csv`` (5 decimals) and return the path. The wall
    times stay out of the file: they depend on the machine that filled the cache, not on the results."""
    path = paths.figures_dir(ctx.name) / "03_results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary_table(runs).drop(columns="wall time (s)").round(5).to_csv(path, index=False)
    return path


def timing_table(runs: Runs) -> pd.DataFrame:
    """The runs of the timing arms (a T_c % value): baseline and every length of the continuous phase."""
    table = runs.table
    return table[table["T_c %"].notna()]


def arm_stats(runs: Runs, dataset: str, metric: str) -> pd.DataFrame:
    """Mean, min and max over seeds of ``metric`` for every arm of FIX_ARMS (rows by arm id, in that order)."""
    table = runs.table
    grouped = table[table.dataset == dataset].groupby("arm", sort=False)
    return grouped[metric].agg(["mean", "min", "max"]).reindex([a.id for a in FIX_ARMS])


def main_histories(runs: Runs) -> dict[str, dict[str, list[pd.DataFrame]]]:
    """Per dataset, the histories of the main arms by label (rows of :func:`vqlib.plotting.curve_grid`)."""
    out = {}
    for dataset in DATASETS:
        groups = runs.histories("arm", dataset=dataset)
        out[dataset] = {a.label: groups[a.id] for a in MAIN_ARMS}
    return out


def capacity_table(capacity: Runs, decimals: int | None = 3) -> pd.DataFrame:
    """Means over seeds of the capacity runs: effective rank, coverage, utilization and reconstruction error by
    dataset, capacity and arm."""
    means = capacity.table.groupby(["dataset", "capacity", "arm_label"], sort=False)[
        ["embedding_effective_rank", "coverage", "utilization", "recon_mse"]].mean()
    return means if decimals is None else means.round(decimals)


def headline_table(runs: Runs, decimals: int | None = None) -> pd.DataFrame:
    """Per dataset: the baseline, the early remedy with the highest utilization, vector-quantize-pytorch,
    deferral at 10 % and a third of the budget, and deferral with a random codebook at the switch."""
    table = runs.table
    rows = []
    for dataset in DATASETS:
        sub = table[table.dataset == dataset]
        means = sub.groupby("arm", sort=False)[["utilization", "perplexity", "shrinkage_euclidean", "recon_mse"]].mean()
        early = [a for a in FIX_ARMS if a.family == "early"]
        best = max(early, key=lambda a: means.loc[a.id, "utilization"])
        for a in dict.fromkeys([BASELINE, best, PEER, DEFERRED_10, DEFERRED, NORMAL_AT_SWITCH]):
            rows.append({"dataset": dataset, "arm": a.label,
                         **means.loc[a.id].rename({"shrinkage_euclidean": "shrinkage ratio",
                                                   "recon_mse": "recon MSE"}).to_dict()})
    out = pd.DataFrame(rows)
    return out if decimals is None else out.round(decimals)


# ---- claims -----------------------------------------------------------------------------------------------

def arm_claims(runs: Runs) -> list[Claim]:
    """Per dataset: deferral restores usage and removes shrinkage against the baseline; it works by drawing the
    codebook from the trained embeddings (a random codebook at the switch does not). Keys: ``<dataset>_utilization``,
    ``_perplexity``, ``_spread``, ``_init`` (dataset: mixture, cifar)."""
    out = []
    for dataset in DATASETS:
        key = _KEYS[dataset]

        def v(metric, a, dataset_=dataset):
            return runs.values(metric, dataset=dataset_, arm=a)

        def done(metric, dataset_=dataset):  # have the baseline's and deferral's runs finished learning it?
            return all_finished(runs.finished(metric, dataset=dataset_, arm=DEFERRED),
                                runs.finished(metric, dataset=dataset_, arm=BASELINE))

        out += [
            Claim(f"{dataset}: utilization, deferred vs baseline", "higher", v("utilization", DEFERRED),
                  v("utilization", BASELINE), key=f"{key}_utilization", finished=done("utilization")),
            Claim(f"{dataset}: perplexity, deferred vs baseline", "higher", v("perplexity", DEFERRED),
                  v("perplexity", BASELINE), key=f"{key}_perplexity", finished=done("perplexity")),
            Claim(f"{dataset}: codebook/embedding spread, deferred vs baseline", "higher",
                  v("shrinkage_euclidean", DEFERRED), v("shrinkage_euclidean", BASELINE), key=f"{key}_spread",
                  finished=done("shrinkage_euclidean")),
            Claim(f"{dataset}: utilization, deferred (k-means at switch) vs deferred (normal codebook at switch)",
                  "higher", v("utilization", DEFERRED), v("utilization", NORMAL_AT_SWITCH), key=f"{key}_init"),
            # de-confounded: a random codebook as spread as the embeddings, so that scale is not the difference
            Claim(f"{dataset}: utilization, deferred (k-means at switch) vs deferred (matched-scale normal at "
                  "switch)", "higher", v("utilization", DEFERRED), v("utilization", MATCHED_AT_SWITCH), stated=False,
                  key=f"{key}_matched_init"),
            Claim(f"{dataset}: utilization, deferred vs early matched-scale normal + EMA", "higher",
                  v("utilization", DEFERRED), v("utilization", EARLY_MATCHED), stated=False,
                  key=f"{key}_matched_early"),
        ]
    return out


#: (metric, label, the direction deferral should have, key suffix) of the "timing or re-initialization?" rows
REINIT_MEASURES = (("utilization", "utilization", "higher", "utilization"), ("perplexity", "perplexity", "higher",
                   "perplexity"), ("shrinkage_euclidean", "codebook/embedding spread", "higher", "spread"),
                   ("recon_mse", "reconstruction MSE", "lower", "mse"))


def timing_claims(runs: Runs) -> list[Claim]:
    """Is it the timing or the re-initialization? Per dataset, deferral against early quantization with dead-code
    re-initialization, on usage, perplexity, the spread ratio and reconstruction: if timing is the cause, as the
    paper argues, deferral should still come out ahead (implied, not reported by the paper: it never tries
    re-initialization). Then deferral against vector-quantize-pytorch (rotation trick + EMA + expiry, its own
    k-means on the first batch) and against the baseline trained by the codebook loss instead of EMA.
    Keys: ``<dataset>_reinit_<utilization|perplexity|spread|mse>``, ``<dataset>_peer``, ``<dataset>_no_ema``."""
    out = []
    for dataset in DATASETS:
        key = _KEYS[dataset]

        def v(metric, a, dataset_=dataset):
            return runs.values(metric, dataset=dataset_, arm=a)

        out += [Claim(f"{dataset}: {label}, deferred vs early + dead-code re-init (timing or re-init?)", paper,
                      v(metric, DEFERRED), v(metric, EARLY_DEAD_CODE), stated=False, key=f"{key}_reinit_{suffix}")
                for metric, label, paper, suffix in REINIT_MEASURES]
        out += [Claim(f"{dataset}: utilization, deferred vs {PEER.label}", "higher", v("utilization", DEFERRED),
                      v("utilization", PEER), stated=False, key=f"{key}_peer"),
                Claim(f"{dataset}: utilization, deferred vs {NO_EMA.label}", "higher", v("utilization", DEFERRED),
                      v("utilization", NO_EMA), stated=False, key=f"{key}_no_ema")]
    return out


def capacity_claims(capacity: Runs) -> list[Claim]:
    """More encoder capacity raises the embeddings' effective rank (baseline, the largest against the smallest
    capacity). Keys: ``mixture_capacity``, ``cifar_capacity``."""
    out = []
    for dataset, (knob, values) in CAPACITY.items():
        low, high = min(values), max(values)
        out.append(Claim(f"{dataset}: embedding eff. rank, {knob} {high} vs {low} (baseline)", "higher",
                         capacity.values("embedding_effective_rank", dataset=dataset, capacity=f"{knob} {high}",
                                         arm=BASELINE),
                         capacity.values("embedding_effective_rank", dataset=dataset, capacity=f"{knob} {low}",
                                         arm=BASELINE),
                         key=f"{_KEYS[dataset]}_capacity"))
    return out


def claims(runs: Runs, capacity: Runs) -> list[Claim]:
    """The paper's claims that notebook 03 can test (:func:`arm_claims`, :func:`timing_claims`, then
    :func:`capacity_claims`): the rows of its claims table, in order."""
    return arm_claims(runs) + timing_claims(runs) + capacity_claims(capacity)


# ---- the numbers the prose states -------------------------------------------------------------------------
#
# Every measured number and every word whose truth depends on one ("every code", "more", the verdicts) that
# notebook 03's sentences state, by section. The templates live in the notebook (vqlib.studies.prose.say).

def _overall(verdicts) -> str:
    """One verdict for several claims: theirs when they all share it; "partly agrees" when some agree;
    "inconclusive" when none agrees but some are inconclusive."""
    verdicts = set(verdicts)
    if len(verdicts) == 1:
        return verdicts.pop()
    return "partly agrees" if "agrees" in verdicts else "inconclusive"


def _means(runs: Runs) -> dict[str, dict[str, dict[str, float]]]:
    """dataset key (mixture, cifar) -> arm id -> metric -> mean over seeds (NaN where not measured)."""
    table = runs.table
    out = {}
    for dataset in DATASETS:
        sub = table[table.dataset == dataset]
        grouped = sub.groupby("arm", sort=False)[[m for m in _METRICS if m in sub]].mean()
        out[_KEYS[dataset]] = {a.id: {m: float(grouped.loc[a.id, m]) if m in grouped else float("nan")
                                      for m in _METRICS} for a in FIX_ARMS if a.id in grouped.index}
    return out


def _compare(first: list[float], second: list[float], more: str = "more", fewer: str = "fewer",
             same: str = "about as many", mixed: str = "sometimes more, sometimes fewer") -> str:
    """``more`` when every first value lies above its second beyond the claims' 5 % band, ``fewer`` when every
    one lies below, ``same`` when every pair is equal within the band, else ``mixed``."""
    directions = {direction(a, b) for a, b in zip(first, second)}
    if len(directions) == 1:
        return {"higher": more, "lower": fewer, "equal": same}.get(directions.pop(), mixed)
    return mixed


def _common(runs: Runs, ctx: Context) -> dict:
    """What every section of the arms comparison states: the means of every arm per dataset (``{mixture.deferred
    .utilization}``), the seed counts, the scale and the keyed claims (:func:`arm_claims`)."""
    return {**_means(runs), "scale": ctx.name, "mixture_seeds": len(seeds(MIXTURE, ctx)),
            "cifar_main_seeds": len(seeds(CIFAR10, ctx, BASELINE)),
            "cifar_other_seeds": len(seeds(CIFAR10, ctx, EARLY_NORMAL)),
            "claims": prose.claim_facts(arm_claims(runs) + timing_claims(runs))}


def reinit_verdicts(claims_: prose.Facts) -> dict:
    """The "timing or re-initialization?" rows in words, per dataset: ``{measure}: {verdict}`` joined."""
    return {key: prose.join(f"{label} {claims_[f'{key}_reinit_{suffix}'].verdict}"
                            for _, label, _, suffix in REINIT_MEASURES) for key in _KEYS.values()}


def _full_use_from(means: dict[str, dict[str, float]], nearly_all: float = 0.9) -> Arm | None:
    """The shortest continuous phase of TIMING from which every longer one uses nearly every code (a mean
    utilization of at least ``nearly_all``)."""
    deferred = [a for a in TIMING if a.continuous]
    for i, a in enumerate(deferred):
        if all(means[b.id]["utilization"] >= nearly_all for b in deferred[i:]):
            return a
    return None


def timing_facts(runs: Runs, ctx: Context) -> prose.Facts:
    """Section 1 (how long to defer). Besides the means of every arm by dataset and id, the seed counts and the
    claims: ``tc`` (T_c % by arm id), ``main_tc`` (the main arms' T_c %), ``short_steps`` (the shortest phase
    on CIFAR-10, in steps); per dataset ``needed`` ("25 % of the budget": the shortest T_c from which every
    longer phase uses nearly every code), ``full_use`` ("from 25 % on every code is used", else the lowest
    utilization from there on), ``full_spread`` (the shrinkage ratios from there on), ``deferred_mse``
    (reconstruction errors at every T_c > 0); ``verdict``: the usage and spread claims' verdict, capitalized
    ("Agrees")."""
    out = _common(runs, ctx)
    out |= {"tc": {a.id: a.t_c_percent for a in TIMING}, "main_tc": [a.t_c_percent for a in (BASELINE, DEFERRED)],
            "short_steps": DEFERRED_05.t_c(base(CIFAR10, ctx).train.steps)}
    for key in _KEYS.values():
        means = out[key]
        full = _full_use_from(means)
        longer = [a for a in TIMING if full is not None and a.continuous >= full.continuous]
        lowest = min((means[a.id]["utilization"] for a in longer), default=float("nan"))
        if full is None:
            full_use = "no length tested uses nearly every code"
        elif lowest == 1.0:
            full_use = f"from {full.t_c_percent} % on every code is used"
        else:
            full_use = f"from {full.t_c_percent} % on at least {100 * lowest:.0f} % of the codes are used"
        out[key] = {**means, "full_use": full_use,
                    "needed": f"{full.t_c_percent} % of the budget" if full else "longer than any length tested",
                    "full_spread": [means[a.id]["shrinkage_euclidean"] for a in longer],
                    "deferred_mse": [means[a.id]["recon_mse"] for a in TIMING if a.continuous]}
    claims_ = out["claims"]
    out["verdict"] = _overall(claims_[f"{k}_{c}"].verdict for k in _KEYS.values()
                              for c in ("utilization", "perplexity", "spread")).capitalize()
    return prose.facts(out)


def arms_facts(runs: Runs, ctx: Context) -> prose.Facts:
    """Section 2 (all arms side by side). Besides the means of every arm by dataset and id, the seed counts and
    the claims: ``non_fixes`` (utilization in % of the codebook loss, cosine codes and the low-dimensional lookup
    on both datasets); ``dead_code_matches`` ("matches" when dead-code re-initialization without deferral reaches
    deferral's utilization on both datasets), ``ema_vs_loss`` ("more" codes with EMA than with the codebook
    loss from a random codebook), ``normal_vs_kmeans`` ("fewer" than the baseline's k-means start);
    ``dead_code_use`` ("100 % utilization on both datasets"); ``combined_use`` / ``combined_best`` /
    ``combined_mse`` (deferral with dead-code re-initialization: "every code on both datasets", "the highest
    perplexity of all arms", "the same" reconstruction error as deferral); ``verdict`` ("Partly agrees" when the
    mechanism's claims agree but dead-code re-initialization reaches deferral's usage without deferral) and
    ``but`` (the clause that says why)."""
    out = _common(runs, ctx)
    keys = list(_KEYS.values())
    out["reinit"] = reinit_verdicts(out["claims"])

    def values(a: Arm, metric: str = "utilization") -> list[float]:
        return [out[k][a.id][metric] for k in keys]

    out["non_fixes"] = [100 * v for a in NON_FIXES for v in values(a)]
    dead_code = _compare(values(EARLY_DEAD_CODE), values(DEFERRED), "matches", "does not match", "matches",
                         "does not match")
    out["dead_code_matches"] = dead_code
    out["ema_vs_loss"] = _compare(values(EARLY_NORMAL_EMA), values(EARLY_NORMAL), same="no more")
    out["normal_vs_kmeans"] = _compare(values(EARLY_NORMAL_EMA), values(BASELINE), same="no fewer")
    # the same comparison at the embeddings' scale: is "a random codebook collapses" randomness, or scale?
    out["matched_vs_kmeans"] = _compare(values(EARLY_MATCHED), values(BASELINE), same="about as many")
    out["matched_vs_unit"] = _compare(values(EARLY_MATCHED), values(EARLY_NORMAL_EMA), same="about as many")
    out["scale_reading"] = ("largely their scale, not their randomness" if out["matched_vs_kmeans"] != "fewer"
                            and out["matched_vs_unit"] == "more" else
                            "their randomness as well as their scale" if out["matched_vs_unit"] == "more" else
                            "not their scale")
    combined = values(DEFERRED_DEAD_CODE)
    out["combined_use"] = ("every code on both datasets" if min(combined) == 1.0 else
                           f"{prose.join(f'{100 * v:.0f} %' for v in combined)} of the codes (mixture, CIFAR-10)")
    dead_code_use = [f"{100 * v:.0f} %" for v in values(EARLY_DEAD_CODE)]
    out["dead_code_use"] = (f"{dead_code_use[0]} utilization on both datasets" if len(set(dead_code_use)) == 1 else
                            f"{prose.join(dead_code_use)} utilization (mixture, CIFAR-10)")
    best = all(max(out[k].values(), key=lambda row: row["perplexity"]) is out[k][DEFERRED_DEAD_CODE.id] for k in keys)
    out["combined_best"] = "the highest perplexity of all arms" if best else "a perplexity"
    out["combined_mse"] = _compare(values(DEFERRED_DEAD_CODE, "recon_mse"), values(DEFERRED, "recon_mse"),
                                   "a higher", "a lower", "the same", "a different")
    claims_ = out["claims"]
    mechanism = _overall(claims_[f"{k}_{c}"].verdict for k in keys for c in ("utilization", "init"))
    if mechanism == "agrees" and dead_code == "matches":
        out["verdict"] = "Partly agrees"
        out["but"] = ("but the gap is not only a matter of timing — keeping the codebook in contact with the current "
                      "embeddings by re-initializing dead codes reaches the same usage without deferral at this scale")
    else:
        out["verdict"] = mechanism.capitalize()
        out["but"] = ("and re-initializing dead codes without deferral does not reach the same usage at this scale"
                      if mechanism == "agrees" else "the measurements do not support every step of that mechanism here")
    return prose.facts(out)


def guidance_facts(runs: Runs, ctx: Context) -> prose.Facts:
    """The practical guidance: the facts of :func:`timing_facts` and :func:`arms_facts`, with
    ``baseline_dead`` ("most codes" when the baseline leaves more than half its codes dead on both datasets),
    ``baseline_spread`` (its shrinkage ratios), and the budget: ``mixture_steps``, ``image_steps``,
    ``cifar_images``."""
    timing, arms = timing_facts(runs, ctx), arms_facts(runs, ctx)
    baseline = [timing[k][BASELINE.id] for k in _KEYS.values()]
    most_dead = max(b["utilization"] for b in baseline) < 0.5
    return prose.facts({**arms, **{k: timing[k] for k in _KEYS.values()},
                        "baseline_dead": "most codes" if most_dead else "many codes",
                        "baseline_spread": [b["shrinkage_euclidean"] for b in baseline],
                        "mixture_steps": base(MIXTURE, ctx).train.steps, "image_steps": base(CIFAR10, ctx).train.steps,
                        "cifar_images": _cifar_images(ctx)})


def _cifar_images(ctx: Context) -> int:
    """CIFAR-10 training images of the study (the whole training set where the scale takes every image)."""
    return base(CIFAR10, ctx).data.train_images or sources(ctx).cifar_images


def capacity_facts(capacity: Runs, ctx: Context) -> prose.Facts:
    """Section 4 (capacity). ``seeds`` (per point), the claims (:func:`capacity_claims`, ``verdict``: theirs,
    capitalized); per dataset (``mixture``, ``cifar``) ``knob`` and, for the smallest, middle (mixture only)
    and largest capacity, ``low`` / ``mid`` / ``high``: ``value`` and per arm (``baseline``, ``deferred``) the
    means of rank, coverage, utilization and reconstruction error, and ``rank`` (both arms' ranks). On the
    mixture ``mse_ratio`` (deferral's reconstruction error at the smallest width over the middle one) and
    ``deferral_vs_width`` ("more" when deferral changes the baseline's coverage at the middle width more than
    the widest encoder does); on CIFAR-10 ``lower_mse`` ("a lower" error at the larger width in both arms)."""
    table = capacity.table
    keyed = prose.claim_facts(capacity_claims(capacity))
    out = {"seeds": len(_capacity_seeds(MIXTURE, ctx)), "claims": keyed,
           "verdict": _overall(c.verdict for c in keyed.values()).capitalize()}
    for dataset, (knob, values) in CAPACITY.items():
        levels = dict(zip(("low", "mid", "high") if len(values) == 3 else ("low", "high"), sorted(values)))
        facts_ = {"knob": knob}
        for level, value in levels.items():
            sub = table[(table.dataset == dataset) & (table.value == value)]
            row = {"value": value}
            for name, a in (("baseline", BASELINE), ("deferred", DEFERRED)):
                row[name] = {m: float(sub.loc[sub.arm == a.id, m].mean()) for m in
                             ("embedding_effective_rank", "coverage", "utilization", "recon_mse")}
            row["rank"] = [row[name]["embedding_effective_rank"] for name in ("baseline", "deferred")]
            facts_[level] = row
        low, high = facts_["low"], facts_["high"]
        if "mid" in facts_:
            mid = facts_["mid"]
            facts_["mse_ratio"] = low["deferred"]["recon_mse"] / mid["deferred"]["recon_mse"]
            by_deferral = mid["deferred"]["coverage"] - mid["baseline"]["coverage"]
            by_width = high["baseline"]["coverage"] - low["baseline"]["coverage"]
            facts_["deferral_vs_width"] = "more" if by_deferral > by_width else "less"
        lower = all(high[n]["recon_mse"] < low[n]["recon_mse"] for n in ("baseline", "deferred"))
        facts_["lower_mse"] = "a lower" if lower else "not a lower"
        out[_KEYS[dataset]] = facts_
    return prose.facts(out)


def evaluation_facts(runs: Runs, capacity: Runs, ctx: Context) -> prose.Facts:
    """The claims table's setting: ``main_seeds`` (seeds per side of the mixture rows and CIFAR-10's
    deferred-versus-baseline rows) and ``main_interval`` (how their intervals are made: "paired bootstrap"),
    ``cifar_other_seeds``, ``capacity_seeds``, the keyed claims (their
    ``interval`` says how each interval was made) and ``every_row`` ("Every row agrees.", else how many do)."""
    all_claims = claims(runs, capacity)
    verdicts = claims_table(all_claims)["verdict"]
    agree = int((verdicts == "agrees").sum())
    if agree == len(verdicts):
        every_row = "Every row agrees."
    else:
        others = verdicts[verdicts != "agrees"].value_counts()
        plural = {"disagrees": "disagree", "inconclusive": "are inconclusive"}
        every_row = (f"{agree} of {len(verdicts)} rows agree; "
                     f"{prose.join(f'{n} {plural.get(word, word)}' for word, n in others.items())}.")
    keyed = prose.claim_facts(all_claims)
    paired = re.fullmatch(r"bootstrap .*\((\w+)\)", keyed.mixture_utilization.interval)
    return prose.facts(main_seeds=sorted({len(seeds(MIXTURE, ctx)), len(seeds(CIFAR10, ctx, BASELINE))}),
                       main_interval=f"{paired[1]} bootstrap" if paired else keyed.mixture_utilization.interval,
                       cifar_other_seeds=len(seeds(CIFAR10, ctx, EARLY_NORMAL)),
                       capacity_seeds=len(_capacity_seeds(CIFAR10, ctx)), claims=keyed,
                       every_row=every_row)


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 03 draws, by figure (:mod:`vqlib.studies.registry`)."""
    return {"arms": arm_cases(ctx), "capacity": capacity_cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 03's claims from its (cached) runs."""
    from .core import run_cases

    lists = case_lists(ctx)
    return claims(run_cases(lists["arms"], desc="arms"), run_cases(lists["capacity"], desc="capacity"))
