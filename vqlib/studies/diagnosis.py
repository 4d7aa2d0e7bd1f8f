"""Notebook 05: diagnose tokenizers with :mod:`vqlib.diagnose` - vector-quantize-pytorch trained three ways on
the mixture, and the cached CIFAR-10 tokenizers of notebooks 02-03.

vector-quantize-pytorch's ``VectorQuantize`` trained as its README shows (a random codebook, EMA updates, from
step 0), with its own k-means on the first batch (``kmeans_init=True``), and deferred through vqlib's schedule
(continuous training first, k-means on the trained encoder at T_c), on the 10-component mixture of notebook 01
(D = 8, K = 32). The README example's decay 0.8 and commitment weight 1 are replaced by the studies' 0.99 and
0.25, so that the three runs differ from notebook 01's arms only in the layer.

Every tokenizer is named once here, with the label of its table row and the file name of its one-page report
(:data:`PEER_RUNS`, :data:`TOKENIZERS`); :func:`diagnosed` diagnoses a list of runs, and a notebook picks a
tokenizer by what it is - ``peer.one(run="random")``, ``cifar.one(arm=BASELINE)`` - never by position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..data import ImageSpec, prepare
from ..diagnose import (
    CODE_SCALE_MAX,
    EMBEDDING_COMPONENTS_FRACTION_MAX,
    REFERENCE_COMPONENTS_FRACTION_MAX,
    SHRINKAGE_MIN,
    Report,
    diagnose,
)
from ..experiments import RunResult, RunSpec
from . import mixture, prose, settings
from .arms import ARMS, BASELINE, DEFERRED, Arm
from .context import Context
from .core import Case, Runs
from .fixes import run_spec
from .settings import CIFAR10

__all__ = ["PEER_RUNS", "TOKENIZERS", "peer_cases", "tokenizer_cases", "tokenizer_specs", "diagnose_run",
           "Diagnosed", "Diagnoses", "diagnosed", "reference_cases", "reference_components", "REFERENCE_LABEL",
           "verdicts", "setting", "peer_facts", "tokenizer_facts", "case_lists"]

#: the three vector-quantize-pytorch runs: (id, label of its table row, file name of its one-page report)
PEER_RUNS = (("random", "VectorQuantize, random codebook (its README)", "05_vqtorch_random"),
             ("kmeans", "VectorQuantize, kmeans_init=True", "05_vqtorch_kmeans"),
             ("deferred", "VectorQuantize, deferred (vqlib's schedule)", "05_vqtorch_deferred"))
VQTORCH = ARMS["vqtorch"]
#: the CIFAR-10 tokenizers of notebooks 02-03 (seed 0): (arm, file name of its one-page report); the baseline,
#: deferred, and vector-quantize-pytorch with its k-means and dead-code expiry
TOKENIZERS = ((BASELINE, "05_cifar_baseline"), (DEFERRED, "05_cifar_deferred"), (VQTORCH, "05_cifar_vqtorch"))
#: the seed of every tokenizer diagnosed here
SEED = 0


def peer_cases(ctx: Context) -> list[Case]:
    """The three vector-quantize-pytorch runs on notebook 01's mixture at D = 8, seed 0 (labels: run, label,
    figure)."""
    base = settings.mixture_base(ctx, mixture.STUDY_DIM)
    cases = []
    for run_id, label, figure in PEER_RUNS:
        arm = DEFERRED if run_id == "deferred" else BASELINE  # the README's and kmeans_init: from step 0
        spec = arm(dataclasses.replace(base, seed=SEED))
        model = dataclasses.replace(spec.model, quantizer="vector-quantize-pytorch", dead_code_threshold=0.0,
                                    peer_kmeans_init=run_id == "kmeans")
        train = spec.train if run_id == "deferred" else dataclasses.replace(spec.train, codebook_init="own")
        cases.append(Case(dataclasses.replace(spec, model=model, train=train),
                          {"run": run_id, "label": label, "figure": figure}))
    return cases


def _tokenizer_label(arm: Arm) -> str:
    return f"{CIFAR10} {arm.label}"


def tokenizer_specs(ctx: Context) -> dict[str, RunSpec]:
    """The CIFAR-10 tokenizers of notebooks 02-03 (seed 0) by label (:data:`TOKENIZERS`)."""
    return {_tokenizer_label(arm): run_spec(CIFAR10, arm, SEED, ctx) for arm, _ in TOKENIZERS}


def tokenizer_cases(ctx: Context) -> list[Case]:
    """The cached tokenizers of :data:`TOKENIZERS` (trained here only if notebooks 02-03 have not run; labels:
    arm, label, figure)."""
    return [Case(run_spec(CIFAR10, arm, SEED, ctx), {"arm": arm.id, "label": _tokenizer_label(arm), "figure": figure})
            for arm, figure in TOKENIZERS]


#: the label of the continuous reference in tables and prose
REFERENCE_LABEL = "continuous autoencoder (no quantizer)"


def reference_cases(ctx: Context) -> list[Case]:
    """The calibration of "embeddings collapse" on CIFAR-10: the baseline tokenizer's spec (same width, data,
    steps and seed) trained as a continuous autoencoder, the quantizer never switched on (labels: label)."""
    spec = run_spec(CIFAR10, BASELINE, SEED, ctx)
    continuous = dataclasses.replace(spec, train=dataclasses.replace(spec.train, quantize_from=spec.train.steps))
    return [Case(continuous, {"label": REFERENCE_LABEL})]


def reference_components(reference: Runs) -> int:
    """The 99 %-components of the continuous reference's embeddings at the end of its training."""
    return int(reference.results[0].final["embedding_components_99"])


def diagnose_run(result: RunResult, batch_size: int = 256, reference_components: int | None = None) -> Report:
    """:func:`vqlib.diagnose.diagnose` of a trained run over its evaluation set, streamed batch by batch,
    through its own quantizer (the layer's lookup space); ``reference_components`` calibrates embeddings
    collapse against a continuous autoencoder's (:func:`reference_cases`)."""
    model = result.model()
    data = prepare(result.spec.data)
    return diagnose(lambda x: model.vectors(model.encode(x)), model.quantizer, data.eval_batches(batch_size),
                    reference_components=reference_components)


@dataclass
class Diagnosed:
    """One diagnosed tokenizer: its case's labels (run or arm, label, figure), its spec and its report."""

    labels: dict[str, Any]
    spec: RunSpec
    report: Report

    @property
    def label(self) -> str:
        return self.labels["label"]

    @property
    def figure(self) -> str:
        """The file name of its one-page report (``figures/<figure>.png``)."""
        return self.labels["figure"]

    @property
    def provenance(self) -> str:
        """The data and seed, for the figure's provenance line: the mixture's description; an image set's source
        up to its first comma (the rest lists the split's counts)."""
        source = prepare(self.spec.data).source
        if isinstance(self.spec.data, ImageSpec):
            source = source.partition(",")[0]
        return f"{source}; seed {self.spec.seed}"


class Diagnoses:
    """Diagnosed tokenizers in their cases' order, picked by what they are (:meth:`one`)."""

    def __init__(self, items: list[Diagnosed]):
        self.items = list(items)

    def __iter__(self) -> Iterator[Diagnosed]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def one(self, **where) -> Diagnosed:
        """The single tokenizer whose labels equal every ``where`` value (an :class:`Arm` matches its id), e.g.
        ``one(run="random")`` or ``one(arm=BASELINE)``; an error when there is none or more than one."""
        where = {k: v.id if isinstance(v, Arm) else v for k, v in where.items()}
        found = [d for d in self.items if all(d.labels.get(k) == v for k, v in where.items())]
        if len(found) != 1:
            raise LookupError(f"{len(found)} diagnosed tokenizers match {where}, expected exactly one (labels: "
                              f"{[d.labels for d in self.items]})")
        return found[0]


def diagnosed(runs: Runs, reference: Runs | None = None) -> Diagnoses:
    """:func:`diagnose_run` of every run, with its case's labels; calibrated against ``reference`` (the runs of
    :func:`reference_cases`) when given."""
    components = reference_components(reference) if reference is not None else None
    return Diagnoses([Diagnosed(case.labels, result.spec, diagnose_run(result, reference_components=components))
                      for case, result in runs])


def verdicts(diagnoses: Diagnoses) -> pd.DataFrame:
    """One row per tokenizer: the verdict and the numbers it rests on (rounded for display)."""
    rows = []
    for d in diagnoses:
        m = d.report.values
        rows.append({"tokenizer": d.label, "verdict": ", ".join(d.report.verdict),
                     "utilization": m["utilization"], "perplexity": m["perplexity"], "K": m["num_codes"],
                     "shrinkage (Euclid.)": m["shrinkage_euclidean"],
                     "embedding 99 %-components": m["embedding_components_99"],
                     "reference 99 %-components": m["reference_components_99"], "d": m["dim"]})
    return pd.DataFrame(rows).set_index("tokenizer").round(3)


def setting(ctx: Context) -> str:
    """The notebook's setting in one line (printed at its top)."""
    return (f"scale {ctx.name}: vector-quantize-pytorch on the mixture, {ctx.scale.mixture_steps} steps, seed "
            f"{SEED}; the CIFAR-10 tokenizers of notebooks 02-03, seed {SEED}")


# -- prose ----------------------------------------------------------------------------------------------------
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve")
_FRACTION_WORDS = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth", 6: "a sixth", 7: "a seventh",
                   8: "an eighth", 9: "a ninth", 10: "a tenth"}


#: what fails in each failure of a verdict
_WHAT_FAILS = {"tokens collapse": "the tokens", "codebook shrinkage": "the codebook",
               "embeddings collapse": "the embeddings"}


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _as_wide(ratio: float) -> str:
    """A spread ratio in words: 'a sixth as wide as', 'narrower than', 'as wide as', 'wider than'."""
    if ratio != ratio:  # NaN
        return "of unknown width against"
    if ratio > 1.25:
        return "wider than"
    if ratio >= 0.8:
        return "as wide as"
    if ratio >= 0.6:
        return "narrower than"
    parts = round(1 / ratio) if ratio > 0 else 0
    return f"{_FRACTION_WORDS[parts]} as wide as" if parts in _FRACTION_WORDS else "a small fraction as wide as"


def _report_facts(report: Report) -> dict:
    """What a sentence about one report states: the verdict and the numbers it rests on, with a few in words."""
    v = report.values
    k, used = v["num_codes"], int((report.counts > 0).sum())
    failures = [label for label in report.verdict if label != "healthy"]
    return {"verdict": ", ".join(report.verdict), "used": used, "K": k, "d": v["dim"],
            "used_words": f"all {k}" if used == k else f"{used} of {k}",
            "utilization": v["utilization"], "perplexity": v["perplexity"], "shrinkage": v["shrinkage_euclidean"],
            "as_wide": _as_wide(v["shrinkage_euclidean"]), "best_code_scale": v["best_code_scale"],
            "components": v["embedding_components_99"],
            "failures": ("all three failures at once" if len(failures) == 3 else "none of the three failures"
                         if not failures else f"{_number_word(len(failures))} of the three failures")}


def peer_facts(peer: Diagnoses, ctx: Context) -> prose.Facts:
    """Section 1's numbers: each vector-quantize-pytorch run's report (``random``, ``kmeans``, ``deferred``), the
    early runs' ranges (``early``), and whether k-means on the first batch helps (``kmeans_init``)."""
    runs = {run_id: peer.one(run=run_id).report for run_id, _, _ in PEER_RUNS}
    early = [runs["random"], runs["kmeans"]]
    shrunk = [r for r in early if "codebook shrinkage" in r.verdict]
    return prose.facts(
        scale=ctx.name, seed=SEED, **{run_id: _report_facts(report) for run_id, report in runs.items()},
        kmeans_init="helps" if runs["kmeans"]["utilization"] > runs["random"]["utilization"] else "does not help",
        early={"shrinkage": [r["shrinkage_euclidean"] for r in early],
               "best_code_scale": [r["best_code_scale"] for r in early],
               "shrunk": "not shrunk" if not shrunk else "shrunk" if len(shrunk) == len(early) else "partly shrunk"},
        shrinkage_min=SHRINKAGE_MIN, code_scale_max=CODE_SCALE_MAX)


def tokenizer_facts(cifar: Diagnoses, reference: Runs | None = None) -> prose.Facts:
    """Section 2's numbers: each CIFAR-10 tokenizer's report (``baseline``, ``deferred``, ``vqtorch``), the
    tokenizers' setting (``channels``, ``res_blocks``, ``steps``), whether the baseline and
    deferral both collapse their embeddings (``regime``: is in / is not in / is at the edge of), which of the
    baseline's failures deferral fixes (``deferred_fixes``), and the
    embeddings-collapse threshold in words (``components_max``); how vector-quantize-pytorch's codebook use and
    embedding spread compare (``vqtorch_in_use``, ``vqtorch_spread``: against the other two tokenizers)."""
    baseline, deferred, vqtorch = (cifar.one(arm=arm).report for arm in (BASELINE, DEFERRED, VQTORCH))
    spec = cifar.one(arm=BASELINE).spec
    model, train = spec.model, spec.train
    both = all("embeddings collapse" in r.verdict for r in (baseline, deferred))
    neither = not any("embeddings collapse" in r.verdict for r in (baseline, deferred))
    blocks = model.num_res_blocks
    spread, most = vqtorch["embedding_components_99"], max(r["embedding_components_99"] for r in (baseline, deferred))
    used, k = int((vqtorch.counts > 0).sum()), vqtorch["num_codes"]
    fixed = [_WHAT_FAILS[label] for label in baseline.verdict if label in _WHAT_FAILS and label not in deferred.verdict]
    calibration = {"components": float("nan"), "rank": float("nan"), "limit": float("nan")}
    if reference is not None:
        final = reference.results[0].final
        calibration = {"components": int(final["embedding_components_99"]),
                       "rank": float(final["embedding_effective_rank"]),
                       "limit": REFERENCE_COMPONENTS_FRACTION_MAX * int(final["embedding_components_99"])}
    # what the fixed rule (at most a quarter of d) would say of the two tokenizers, and of the reference
    fixed_limit = EMBEDDING_COMPONENTS_FRACTION_MAX * baseline["dim"]
    called = sum(r["embedding_components_99"] <= fixed_limit for r in (baseline, deferred))
    narrow_reference = calibration["components"] <= fixed_limit
    fallback = (f"would call {('neither', 'one', 'both')[called]} of the two small tokenizers collapsed"
                + (", although a continuous encoder of their width is as narrow by that rule: the narrowness is the "
                   "encoder's, not quantization's" if called and narrow_reference else ""))
    return prose.facts(
        reference=calibration, reference_fraction=REFERENCE_COMPONENTS_FRACTION_MAX, fallback=fallback,
        deferred_fixes=f"fixes {prose.join(fixed)}" if fixed else "fixes none of the baseline's failures",
        seed=SEED, baseline=_report_facts(baseline), deferred=_report_facts(deferred), vqtorch=_report_facts(vqtorch),
        channels=model.channels, steps=train.steps,
        res_blocks=f"{_number_word(blocks)} residual block{'' if blocks == 1 else 's'}",
        regime="is in" if both else "is not in" if neither else "is at the edge of",
        whatever_the_schedule=", whatever the schedule" if both or neither else "",
        vqtorch_in_use="the whole codebook" if used == k else f"{used} of its {k} codes",
        vqtorch_spread=("also spreads more" if spread > most else "spreads as much" if spread == most
                        else "spreads less"),
        components_max=_FRACTION_WORDS.get(round(1 / EMBEDDING_COMPONENTS_FRACTION_MAX),
                                           f"{EMBEDDING_COMPONENTS_FRACTION_MAX:g}"))


def case_lists(ctx: Context) -> dict[str, list[Case]]:
    """Every run notebook 05 diagnoses: the vector-quantize-pytorch runs and the CIFAR-10 tokenizers."""
    return {"vector-quantize-pytorch": peer_cases(ctx), "tokenizers": tokenizer_cases(ctx),
            "continuous reference": reference_cases(ctx)}
