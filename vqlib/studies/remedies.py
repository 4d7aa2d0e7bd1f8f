"""Notebook 06: does deferral still matter once a modern remedy is on? - the remedies' arms, the case lists, the
table, the claims and the numbers the prose states.

Four remedies (:data:`vqlib.studies.arms.REMEDIES`): the rotation trick, CVQ-VAE's online clustered codebook,
SimVQ and FSQ, each early (from step 0, with the remedy's own initialization) and deferred (switched on at the
deferred arm's T_c), beside notebook 03's baseline, plain deferral and vector-quantize-pytorch (rotation trick on,
its default, and off). The same two datasets as notebook 03 (the 64-component mixture and the CIFAR-10
tokenizer), at its budgets: the baseline, deferral and the peer are notebook 03's runs (the same specs, from the
cache); the remedies keep curves over training, so whether they finished learning is checked.

Seeds: the headline seeds for every arm on both datasets (5 at the default scale: bootstrap intervals on every
row), except vector-quantize-pytorch with its rotation trick, which is notebook 03's arm with notebook 03's seeds.
The runs are short enough that every remedy gets the seeds of a headline comparison.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from . import fixes, settings
from .arms import ARMS, BASELINE, DEFERRED, REMEDIES, Arm
from .claims import EQUAL_TOLERANCE, FINISHED_WORDS, Claim, claims_table
from .context import Context
from .core import Case, Runs, all_finished, arm_case, last_quarter_change, learning_finished
from .prose import Facts, claim_facts, facts, join
from .settings import CIFAR10, MIXTURE

__all__ = ["DATASETS", "PAIRS", "PEERS", "ARMS_SHOWN", "METRICS", "CITATIONS", "seeds", "run_spec",
           "cases", "case_lists", "table", "claims", "claims_frame", "study_claims", "facts_of", "citations",
           "describe", "provenance", "diagnosed", "DIAGNOSED_SEED", "LONG_REMEDIES", "LONG_METRICS",
           "long_cases", "long_table", "long_facts"]

DATASETS = (MIXTURE, CIFAR10)
_IDS = {"rotation trick": "rotation", "online clustering": "cvq", "SimVQ": "simvq", "FSQ": "fsq"}
#: remedy name -> (its early arm, its deferred arm)
PAIRS: dict[str, tuple[Arm, Arm]] = {name: (ARMS[f"early_{_IDS[name]}"], ARMS[f"deferred_{_IDS[name]}"])
                                     for name in REMEDIES}
#: vector-quantize-pytorch with its default rotation trick, and with the straight-through estimator
PEERS: tuple[Arm, ...] = (ARMS["vqtorch"], ARMS["vqtorch_ste"])
#: every arm of the notebook, in table order
ARMS_SHOWN: tuple[Arm, ...] = (BASELINE, DEFERRED, *(a for pair in PAIRS.values() for a in pair), *PEERS)
#: the measures of the table and the figure
METRICS = ("utilization", "perplexity", "shrinkage_euclidean", "code_components_99", "embedding_components_99",
           "recon_mse")
#: the remedies' own published numbers: cited, not measured here
CITATIONS = (
    ("SimVQ", "codebook usage 100 % with K = 65,536 codes on ImageNet at 128 x 128", "Zhu et al., arXiv 2411.02038"),
    ("online clustering", "100 % codebook utilisation of larger codebooks", "Zheng & Vedaldi, arXiv 2307.15139 "
                                                                            "(the authors' repository)"),
)


def seeds(dataset: str, which: Arm, ctx: Context) -> list[int]:
    """The seeds of an arm on a dataset (see the module docstring)."""
    s = ctx.scale
    if dataset == MIXTURE:
        return list(range(s.seeds))
    if which == PEERS[0]:  # notebook 03's arm, its runs
        return fixes.seeds(dataset, ctx, which)
    return list(range(s.image_seeds))


def run_spec(dataset: str, which: Arm, seed: int, ctx: Context):
    """One arm and seed on a dataset: notebook 03's spec for its arms (the same runs), the base spec with curves
    over training for the remedies."""
    if which in (BASELINE, DEFERRED, *PEERS):
        return fixes.run_spec(dataset, which, seed, ctx)
    return which(dataclasses.replace(fixes.base(dataset, ctx), seed=seed))


def cases(ctx: Context) -> list[Case]:
    """Every arm of :data:`ARMS_SHOWN` on both datasets, every seed (labels: dataset, arm, arm_label, family,
    remedy)."""
    remedy_of = {a.id: name for name, pair in PAIRS.items() for a in pair}
    return [Case(run_spec(dataset, a, seed, ctx), {"dataset": dataset, "arm": a.id, "arm_label": a.label,
                                                  "family": a.family, "remedy": remedy_of.get(a.id, "")})
            for dataset in DATASETS for a in ARMS_SHOWN for seed in seeds(dataset, a, ctx)]


#: the remedies that also get one long reference run per schedule on CIFAR-10 (chosen before running them: the one
#: that failed at 600 steps, and the close relative of dead-code re-initialization); what the CPU budget allows
LONG_REMEDIES = ("rotation trick", "online clustering")
#: the measures of the long runs' end-point table
LONG_METRICS = ("utilization", "perplexity", "shrinkage_euclidean", "recon_mse")


def long_cases(ctx: Context) -> list[Case]:
    """Seed 0 of the baseline and deferral at notebook 02's converged budget (its long reference runs, from the
    cache) and of :data:`LONG_REMEDIES` early and deferred at the same budget (labels: arm, arm_label)."""
    small = settings.cifar_converged(ctx)
    out = [arm_case(small, a, 0) for a in (BASELINE, DEFERRED)]
    out += [arm_case(small, a, 0) for name in LONG_REMEDIES for a in PAIRS[name]]
    return out


def long_table(runs: Runs) -> pd.DataFrame:
    """One row per long run: the final value of every :data:`LONG_METRICS` measure, its change over the last
    quarter of the steps, and whether it finished learning (changed by less than the band)."""
    rows = []
    for case, result in runs:
        row = {"arm": case.labels["arm_label"], "steps": result.spec.train.steps}
        for metric in LONG_METRICS:
            row[metric] = float(result.final[metric])
            row[f"{metric} last-quarter change"] = last_quarter_change(result.history, metric)
            row[f"{metric} finished"] = FINISHED_WORDS[learning_finished(result.history, metric)]
        rows.append(row)
    return pd.DataFrame(rows)


def long_facts(runs: Runs) -> Facts:
    """What the prose states of the long runs: per arm id the final value of every :data:`LONG_METRICS` measure and
    whether it finished learning (yes / no / not checked), the steps and the remedies' names."""
    out: dict = {"steps": runs.results[0].spec.train.steps, "remedies": join(LONG_REMEDIES)}
    for case, result in runs:
        out[case.labels["arm"]] = {m: float(result.final[m]) for m in LONG_METRICS} | {
            f"{m}_finished": FINISHED_WORDS[learning_finished(result.history, m)] for m in LONG_METRICS}
    # deferred against early at the end, per remedy and measure, in the claims' band: "the same", "higher", "lower"
    for name in LONG_REMEDIES:
        early, deferred = (out[a.id] for a in PAIRS[name])
        out[_IDS[name]] = {m: _compare(deferred[m], early[m]) for m in LONG_METRICS}
    return facts(out)


def _compare(first: float, second: float) -> str:
    """'the same' within the claims' equality band (a ratio within 5 %), else 'higher' or 'lower'."""
    ratio = first / second if second else float("inf")
    if 1 - EQUAL_TOLERANCE <= ratio <= 1 / (1 - EQUAL_TOLERANCE):
        return "the same"
    return "higher" if ratio > 1 else "lower"


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Notebook 06's run lists (the registry's view)."""
    return {"remedies": cases(ctx), "long runs": long_cases(ctx)}


def provenance(ctx: Context) -> str:
    """The figures' provenance line: the datasets and every arm's seeds."""
    where = fixes.sources(ctx)
    full, peer = (seeds(CIFAR10, a, ctx) for a in (BASELINE, PEERS[0]))
    return (f"{where.mixture} (seeds {seeds(MIXTURE, BASELINE, ctx)}); {where.cifar} (seeds {full}; "
            f"vector-quantize-pytorch with its rotation trick {peer}, notebook 03's)")


def describe(ctx: Context) -> str:
    """The notebook's first line: the budgets, seeds and the switch."""
    mixture, cifar = (fixes.base(d, ctx).train.steps for d in DATASETS)
    return (f"scale {ctx.name}: mixture {mixture} steps, CIFAR-10 {cifar} steps; deferred arms switch at "
            f"T_c = {DEFERRED.t_c(mixture)} and {DEFERRED.t_c(cifar)}; seeds per arm: mixture {ctx.scale.seeds}, "
            f"CIFAR-10 {ctx.scale.image_seeds} (vector-quantize-pytorch with its rotation trick: notebook 03's "
            f"{len(seeds(CIFAR10, PEERS[0], ctx))})")


def table(runs: Runs) -> pd.DataFrame:
    """Mean over seeds of every measure of :data:`METRICS`, by dataset and arm (rows in :data:`ARMS_SHOWN`
    order), with the number of seeds."""
    grouped = runs.table.groupby(["dataset", "arm"])
    out = grouped[list(METRICS)].mean().join(grouped.size().rename("seeds"))
    out = out.reindex([(d, a.id) for d in DATASETS for a in ARMS_SHOWN]).dropna(how="all").reset_index()
    out.insert(2, "arm label", out["arm"].map(lambda a: ARMS[a].label))
    return out


def _finished(runs: Runs, metric: str, dataset: str, *arms: Arm) -> bool | None:
    return all_finished(*(runs.finished(metric, dataset=dataset, arm=a) for a in arms))


#: (measure, what the row says, the paper's logic: deferral raises / lowers it)
_DEFERRAL_ROWS = (("utilization", "utilization", "higher"), ("perplexity", "perplexity", "higher"),
                  ("recon_mse", "reconstruction MSE", "lower"))


def claims(runs: Runs) -> list[Claim]:
    """Per dataset and remedy: does deferral add to it (deferred + remedy vs early + remedy: utilization,
    perplexity higher, reconstruction lower; keys ``<data>_<remedy>_adds_<what>``), and does the remedy fix the
    shrinkage and not only the usage (early + remedy vs the baseline: the code/embedding spread ratio and the
    utilization higher; keys ``<data>_<remedy>_spread`` and ``..._usage``). None of these is the paper's: the
    directions follow its account of the fix (``stated=False``)."""
    out = []
    for dataset in DATASETS:
        data = "mixture" if dataset == MIXTURE else "cifar"
        for name, (early, deferred) in PAIRS.items():
            key = f"{data}_{_IDS[name]}"
            for metric, label, paper in _DEFERRAL_ROWS:
                out.append(Claim(f"{dataset}: {name}: {label}, deferred vs early (does deferral add to it?)", paper,
                                 runs.values(metric, dataset=dataset, arm=deferred),
                                 runs.values(metric, dataset=dataset, arm=early), stated=False,
                                 key=f"{key}_adds_{metric}",
                                 finished=_finished(runs, metric, dataset, early, deferred)))
            for metric, label, what in (("shrinkage_euclidean", "codebook/embedding spread", "spread"),
                                        ("utilization", "utilization", "usage")):
                out.append(Claim(f"{dataset}: early + {name} vs baseline: {label} (does it fix the {what}?)",
                                 "higher", runs.values(metric, dataset=dataset, arm=early),
                                 runs.values(metric, dataset=dataset, arm=BASELINE), stated=False,
                                 key=f"{key}_{what}", finished=_finished(runs, metric, dataset, early, BASELINE)))
    return out


def study_claims(ctx: Context, **_options) -> list[Claim]:
    """Notebook 06's claims from its (cached) runs."""
    from .core import run_cases

    return claims(run_cases(cases(ctx), desc="remedies"))


#: the seed whose tokenizers are diagnosed
DIAGNOSED_SEED = 0


def diagnosed(runs: Runs, ctx: Context):
    """:func:`vqlib.diagnose.diagnose` of every CIFAR-10 tokenizer of seed :data:`DIAGNOSED_SEED` (each remedy early
    and deferred, the baseline and deferral), calibrated against notebook 05's continuous autoencoder of the same
    width; returns :class:`vqlib.studies.diagnosis.Diagnoses` labelled by arm."""
    from . import diagnosis
    from .core import run_cases

    reference = run_cases(diagnosis.reference_cases(ctx), desc="reference")
    picked = [(Case(case.spec, {"label": ARMS[case.labels["arm"]].label, "arm": case.labels["arm"]}), result)
              for case, result in runs if case.labels["dataset"] == CIFAR10 and case.spec.seed == DIAGNOSED_SEED
              and ARMS[case.labels["arm"]] not in PEERS]
    return diagnosis.diagnosed(Runs([c for c, _ in picked], [r for _, r in picked]), reference)


def citations() -> pd.DataFrame:
    """The remedies' published numbers, each marked as a citation (not measured here)."""
    return pd.DataFrame([{"remedy": r, "published": what, "source": src, "kind": "citation, not our measurement"}
                         for r, what, src in CITATIONS])


def _which(rows: Facts, data: str, suffix: str, keep=lambda row: row.verdict == "agrees") -> str:
    """The remedies whose row ``<data>_<remedy>_<suffix>`` ``keep`` keeps (default: verdict agrees), as words."""
    names = [n for n in PAIRS if keep(rows[f"{data}_{_IDS[n]}_{suffix}"])]
    return join(names) if names else "none of them"


def _clearly_higher(row) -> bool:
    """The whole interval above the equality band: the first clearly higher than the second."""
    return row.low > 1 / (1 - EQUAL_TOLERANCE)


def facts_of(runs: Runs) -> Facts:
    """What the prose states: per dataset (``mixture``, ``cifar``) and arm id the means of :data:`METRICS`, the
    claims rows by key, and per dataset the remedies for which deferral adds to utilization (``adds``) and to
    perplexity, those whose deferred arm reconstructs clearly worse (``recon_worse``: the interval above the
    equality band), those whose early arm fixes the spread (``fixes_spread``) and the usage (``fixes_usage``), as
    word lists; for every deferred arm the embeddings' Euclidean spread at its switch and at the end (mean curve:
    ``spread_at_switch``, ``spread_end``)."""
    rows = claim_facts(claims(runs))
    t = table(runs)
    out: dict = {"claims": rows, "table_rows": len(t)}
    for dataset in DATASETS:
        data = "mixture" if dataset == MIXTURE else "cifar"
        sub = t[t.dataset == dataset].set_index("arm")
        out[data] = {a: {m: float(sub.loc[a, m]) for m in METRICS} | {"seeds": int(sub.loc[a, "seeds"])}
                     for a in sub.index}

        for a in (DEFERRED, *(pair[1] for pair in PAIRS.values())):  # the embeddings' spread at the switch, at the end
            curve = runs.mean_curve("embedding_euclidean_distance", dataset=dataset, arm=a)
            switch = a.t_c(runs.select(dataset=dataset, arm=a).results[0].spec.train.steps)
            out[data][a.id] |= {"spread_at_switch": float(curve.get(switch, float("nan"))),
                                "spread_end": float(curve.iloc[-1]) if len(curve) else float("nan")}
        out[data] |= {"adds": _which(rows, data, "adds_utilization"),
                      "adds_perplexity": _which(rows, data, "adds_perplexity"),
                      "fixes_spread": _which(rows, data, "spread"), "fixes_usage": _which(rows, data, "usage"),
                      "recon_worse": _which(rows, data, "adds_recon_mse", _clearly_higher)}
    return facts(out)


def claims_frame(runs: Runs) -> pd.DataFrame:
    """The claims table of :func:`claims`."""
    return claims_table(claims(runs))
