"""Notebook 03: deferred quantization against the classic remedies - the arms, datasets, figures' spec
lists, the results table and the claims.

Two datasets: the 64-component mixture of notebook 01 and CIFAR-10 with the tokenizer of notebook 02 (same
specs, so their runs come from the cache). Every arm keeps the total step budget. The main arms keep curves
over training; the others are evaluated at the start, the switch and the end.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..experiments import RunSpec
from . import settings
from .arms import ARMS, arm
from .claims import Claim
from .context import Context
from .core import Case, Runs, arm_case

__all__ = ["DATASETS", "FIX_ARMS", "MAIN_ARMS", "TIMING_ARMS", "CAPACITY", "base", "seeds", "run_spec", "arm_cases",
           "capacity_cases", "summary_table", "headline_table", "claims", "SUMMARY_COLUMNS"]

DATASETS = ("mixture", "CIFAR-10")
#: every arm of the comparison, in table order
FIX_ARMS = ("early_kmeans", "early_normal", "early_normal_ema", "deferred_05", "deferred_10", "deferred_25", "deferred",
            "deferred_50", "deferred_normal_init", "deferred_sample_init", "deferred_dead_code", "early_no_ema",
            "early_dead_code", "early_cosine", "early_lowdim", "vqtorch")
#: arms whose curves over training are kept (evaluated every ``eval_every`` steps)
MAIN_ARMS = ("early_kmeans", "early_normal", "deferred")
#: the length of the continuous phase, T_c as a percentage of the budget (0: early quantization)
TIMING_ARMS = {"early_kmeans": 0, "deferred_05": 5, "deferred_10": 10, "deferred_25": 25, "deferred": 33,
               "deferred_50": 50}
#: encoder capacity with and without deferral: (knob, values), each at the sweep seeds
CAPACITY = {"mixture": ("width", (4, 64, 256)), "CIFAR-10": ("channels", (16, 64))}


def base(dataset: str, ctx: Context) -> RunSpec:
    """The base spec of a dataset: the 64-component mixture (notebook 01's figure 6) or the CIFAR-10
    tokenizer (notebook 02's figure 1)."""
    if dataset == "mixture":
        return settings.big_mixture_base(ctx)
    if dataset == "CIFAR-10":
        return settings.cifar_base(ctx)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")


def seeds(dataset: str, ctx: Context, arm_id: str = "early_kmeans") -> list[int]:
    """The seeds of ``arm_id`` on ``dataset``: every headline seed for the baseline and deferral (the runs of
    notebooks 01 and 02), ``Scale.image_sweep_seeds`` for the other arms on CIFAR-10."""
    s = ctx.scale
    if dataset == "mixture":
        return list(range(s.seeds))
    return list(range(s.image_seeds if arm_id in ("early_kmeans", "deferred") else s.image_sweep_seeds))


def run_spec(dataset: str, arm_id: str, seed: int, ctx: Context) -> RunSpec:
    """The spec of one arm and seed on a dataset, exactly as this study runs it (notebook 04 takes its
    tokenizers from here)."""
    spec = base(dataset, ctx)
    if arm_id not in MAIN_ARMS:
        spec = dataclasses.replace(spec, train=settings.endpoints_only(spec.train))
    return arm(arm_id)(dataclasses.replace(spec, seed=seed))


def arm_cases(ctx: Context) -> list[Case]:
    """Every arm of FIX_ARMS on both datasets, every seed (labels: dataset, arm, arm_label, family, T_c %)."""
    cases = []
    for dataset in DATASETS:
        for arm_id in FIX_ARMS:
            for seed in seeds(dataset, ctx, arm_id):
                a = ARMS[arm_id]
                cases.append(Case(run_spec(dataset, arm_id, seed, ctx),
                                  {"dataset": dataset, "arm": arm_id, "arm_label": a.label, "family": a.family,
                                   "T_c %": TIMING_ARMS.get(arm_id, np.nan)}))
    return cases


def capacity_cases(ctx: Context) -> list[Case]:
    """Encoder width (mixture) and channels (CIFAR-10: notebook 02's runs), baseline and deferred, the sweep seeds
    (labels: dataset, capacity, value, arm)."""
    s = ctx.scale
    cases = []
    for dataset, (knob, values) in CAPACITY.items():
        spec = base(dataset, ctx)
        spec = dataclasses.replace(spec, train=settings.endpoints_only(spec.train))
        run_seeds = list(range(s.sweep_seeds if dataset == "mixture" else s.image_sweep_seeds))
        for value in values:
            sized = dataclasses.replace(spec, model=dataclasses.replace(spec.model, **{knob: value}))
            for arm_id in ("early_kmeans", "deferred"):
                cases += [arm_case(sized, ARMS[arm_id], seed, dataset=dataset, capacity=f"{knob} {value}",
                                   value=value) for seed in run_seeds]
    return cases


#: metric -> column title of the results table (figures/03_results.csv)
SUMMARY_COLUMNS = {"utilization": "utilization", "perplexity": "perplexity", "dead_codes": "dead codes",
                   "code_cosine_distance": "code spread (cos)", "code_euclidean_distance": "code spread (Euclid.)",
                   "shrinkage_euclidean": "shrinkage ratio", "embedding_effective_rank": "embedding eff. rank",
                   "recon_mse": "recon MSE", "train_seconds": "wall time (s)"}


def summary_table(runs: Runs) -> pd.DataFrame:
    """Means over seeds of every arm on every dataset (with the number of seeds and the std of the
    reconstruction error): the table written to figures/03_results.csv."""
    table = runs.table
    grouped = table.groupby(["dataset", "arm_label"], sort=False)
    summary = grouped[list(SUMMARY_COLUMNS)].mean()
    summary.insert(0, "seeds", grouped.size())
    summary["recon MSE std"] = grouped["recon_mse"].std(ddof=0)
    return summary.rename(columns=SUMMARY_COLUMNS).reset_index().rename(columns={"arm_label": "arm"})


def headline_table(runs: Runs) -> pd.DataFrame:
    """Per dataset: the baseline, the early remedy with the highest utilization, vector-quantize-pytorch,
    deferral at 10 % and a third of the budget, and deferral with a random codebook at the switch."""
    table = runs.table
    rows = []
    for dataset in DATASETS:
        sub = table[table.dataset == dataset]
        means = sub.groupby("arm", sort=False)[["utilization", "perplexity", "shrinkage_euclidean", "recon_mse"]].mean()
        early = [a for a in FIX_ARMS if ARMS[a].family == "early"]
        best = max(early, key=lambda a: means.loc[a, "utilization"])
        for arm_id in dict.fromkeys(["early_kmeans", best, "vqtorch", "deferred_10", "deferred",
                                     "deferred_normal_init"]):
            rows.append({"dataset": dataset, "arm": ARMS[arm_id].label,
                         **means.loc[arm_id].rename({"shrinkage_euclidean": "shrinkage ratio",
                                                     "recon_mse": "recon MSE"}).to_dict()})
    return pd.DataFrame(rows)


def claims(runs: Runs, capacity: Runs) -> list[Claim]:
    """The paper's claims that notebook 03 can test: deferral restores usage and removes shrinkage; it works
    by drawing the codebook from the trained embeddings (a random codebook at the switch does not); more
    encoder capacity raises the embeddings' effective rank."""
    out = []
    for dataset in DATASETS:
        def v(metric, arm_id, runs_=runs, dataset_=dataset):
            return runs_.values(metric, dataset=dataset_, arm=arm_id)

        out += [
            Claim(f"{dataset}: utilization, deferred vs baseline", "higher", v("utilization", "deferred"),
                  v("utilization", "early_kmeans")),
            Claim(f"{dataset}: perplexity, deferred vs baseline", "higher", v("perplexity", "deferred"),
                  v("perplexity", "early_kmeans")),
            Claim(f"{dataset}: codebook/embedding spread, deferred vs baseline", "higher",
                  v("shrinkage_euclidean", "deferred"), v("shrinkage_euclidean", "early_kmeans")),
            Claim(f"{dataset}: utilization, deferred (k-means at switch) vs deferred (normal codebook at switch)",
                  "higher", v("utilization", "deferred"), v("utilization", "deferred_normal_init")),
        ]
    for dataset, (knob, values) in CAPACITY.items():
        low, high = min(values), max(values)
        out.append(Claim(f"{dataset}: embedding eff. rank, {knob} {high} vs {low} (baseline)", "higher",
                         capacity.values("embedding_effective_rank", dataset=dataset, capacity=f"{knob} {high}",
                                         arm="early_kmeans"),
                         capacity.values("embedding_effective_rank", dataset=dataset, capacity=f"{knob} {low}",
                                         arm="early_kmeans")))
    return out


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run list notebook 03 draws, by figure (:mod:`vqlib.studies.registry`)."""
    return {"arms": arm_cases(ctx), "capacity": capacity_cases(ctx)}


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 03's claims from its (cached) runs."""
    from .core import run_cases

    lists = case_lists(ctx)
    return claims(run_cases(lists["arms"], desc="arms"), run_cases(lists["capacity"], desc="capacity"))
