"""Notebook 02's computed prose: every ``*_facts`` function returns the numbers one section's prose states
(:func:`vqlib.studies.prose.say`), for every dataset of the study: a dataset that is not available here (ImageNet
without a root) gives NaN values and "n/a" verdicts, so the prose renders without it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import views
from ..arms import BASELINE, DEFERRED
from ..claims import EQUAL_TOLERANCE, Claim
from ..claims import verdict as claim_row
from ..context import Context
from ..core import Runs
from ..prose import Facts, claim_facts, facts, join
from ..settings import CIFAR10, IMAGENET
from .study import (
    _ARM_CLAIMS,
    _PAIR,
    _ROLES,
    _WORDS,
    CAPACITY_KNOBS,
    USAGE_COLUMNS,
    VIEW_SEED,
    Dataset,
    _datasets_of,
    _slug,
    arm_claims,
    capacity_claims,
    claims,
    size_claims,
)

__all__ = ["centred_facts", "usage_facts", "histogram_facts", "size_facts", "capacity_facts", "tsne_facts",
           "shrinkage_facts", "verdict_facts"]


def _word(n: int) -> str:
    """A small count as a word ("five"), a larger one as digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def _seeds(n: int, what: str = "") -> str:
    """"five CIFAR-10 seeds", "one seed"."""
    return " ".join(w for w in (_word(n), what, "seed" if n == 1 else "seeds") if w)


def _in_seeds(k: int, n: int) -> str:
    """In how many of n seeds something holds: "in each of the three seeds", "in two of three seeds", "in its only
    seed" ("n/a" without seeds)."""
    if n <= 1:
        return "n/a" if n == 0 else "in its only seed" if k else "not in its only seed"
    if k in (0, n):
        return f"in {'none' if k == 0 else 'each'} of the {_word(n)} seeds"
    return f"in {_word(k)} of {_word(n)} seeds"


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _at(series, i: int) -> float:
    """The ``i``-th value of a curve (NaN where it has none)."""
    return float(series.iloc[i]) if -len(series) <= i < len(series) else math.nan


_MISSING_CLAIM = {"verdict": "n/a", "Verdict": "n/a", "effect": math.nan, "low": math.nan, "high": math.nan,
                  "first": math.nan, "second": math.nan, "n": "n/a", "expected": "n/a", "text": "n/a", "kind": "",
                  "interval": "n/a", "finished": "n/a"}


def _claim_rows(found: list[Claim]) -> Facts:
    """:func:`vqlib.studies.prose.claim_facts` with ``Verdict`` (capitalized, to start a sentence), and an "n/a"
    row for every arm claim of a dataset not available here."""
    out = {key: {**row, "Verdict": row["verdict"].capitalize()} for key, row in claim_facts(found).items()}
    expected = [f"{_slug(name)}_{key}" for name in (CIFAR10, IMAGENET) for _, _, key, _ in _ARM_CLAIMS]
    return facts({key: dict(_MISSING_CLAIM) for key in expected} | out)


def centred_facts(centred: list[Claim], long: Facts) -> Facts:
    """The rows of :func:`centred_claims` by dataset (``cifar``, ``imagenet``; "n/a" for a dataset not here) beside
    the long runs' row at the smaller K (``long``: :func:`vqlib.studies.converged.curve_facts`), and ``reading``:
    whether the CIFAR-10 gap at the sweeps' budget outlives the baseline's recovery."""
    rows = claim_facts(centred)
    out = {slug: {"Verdict": "n/a", **_MISSING_CLAIM} | rows.get(f"{slug}_centred_spread", {})
           for slug in (_slug(CIFAR10), _slug(IMAGENET))}
    settled = long.claims.small_centred_spread
    short = out[_slug(CIFAR10)]["verdict"]
    out["long"] = settled
    out["long_K"], out["long_steps"], out["steps"] = long.small.K, long.small.steps, long.short_steps
    out["reading"] = ("the short runs' gap is the unfinished baseline's: it closes as the baseline recovers"
                      if short == "agrees" and settled.verdict != "agrees" else
                      "the gap outlives the baseline's recovery" if short == settled.verdict == "agrees" else
                      f"{short} at the short budget, {settled.verdict} once the baseline has settled")
    return facts(out)


def _verdict_across(rows: Facts, key: str, names: list[str]) -> str:
    """One verdict for a claim made on several datasets: the shared word, else each dataset's."""
    found = {name: rows[f"{_slug(name)}_{key}"].verdict for name in names}
    if len(set(found.values())) == 1:
        return next(iter(found.values()))
    return ", ".join(f"{v} on {name}" for name, v in found.items())


def _verdict_sentence(topics: dict[str, str]) -> str:
    """"**Agrees** on usage and perplexity; **disagrees** on ...": topics grouped by their verdict, in order."""
    groups: dict[str, list[str]] = {}
    for topic, verdict in topics.items():
        groups.setdefault(verdict, []).append(topic)
    text = "; ".join(f"**{verdict}** on {join(names)}" for verdict, names in groups.items())
    return text[:2] + text[2:3].upper() + text[3:]


def _present(arms: Runs) -> list[str]:
    return [name for name in (CIFAR10, IMAGENET) if name in _datasets_of(arms)]


def _arm_numbers(arms: Runs, name: str, arm, num_codes: int) -> dict:
    """Final means over seeds of one arm on one dataset, the per-seed values and the curve's landmarks."""
    runs = arms.select(dataset=name, arm=arm)
    out = {m: _mean(runs.values(m)) for m in USAGE_COLUMNS}
    out.update(n=len(runs), seed_utilization=sorted(runs.values("utilization")) or [math.nan],
               used_codes=out["utilization"] * num_codes,
               view_recon_mse=_mean(runs.select(seed=VIEW_SEED).values("recon_mse")))
    # the first evaluation (step 0 for early arms, T_c for deferral), the next one, the one before the end
    curve = arms.mean_curve("utilization", dataset=name, arm=arm)
    steps = pd.Series(curve.index, dtype=float)
    out.update(start=_at(curve, 0), next=_at(curve, 1), next_steps=int(np.nan_to_num(_at(steps, 1) - _at(steps, 0))),
               before_end=_at(curve, -2))
    out["drop"] = out["start"] - out["next"]
    return out


def usage_facts(arms: Runs, ctx: Context) -> Facts:
    """Section 1 (usage over training), also quoted by the reconstructions and the settings: for each dataset
    (``cifar``, ``imagenet``) and arm (``baseline``, ``deferred``, ``normal``, ``uniform``) the final means of
    :data:`USAGE_COLUMNS`, ``used_codes``, ``seed_utilization`` (sorted), the utilization curve's landmarks
    (``start``: the first evaluation - step 0, or the switch for deferral; ``next``: the one after, ``next_steps``
    later; ``drop``: from start to next), ``view_recon_mse`` (seed :data:`VIEW_SEED`); per dataset ``seeds`` in
    words and ``used_more`` (in how many seeds the baseline's used codes are the more spread); ``normal_codes``,
    ``baseline_trend`` ("still climbing" over the last evaluation on every dataset), the keyed claims and
    ``verdicts`` (the verdict sentence)."""
    model = arms.results[0].spec.model
    rows, present = _claim_rows(arm_claims(arms)), _present(arms)
    out = {"K": model.num_codes, "d": model.latent_dim, "steps": ctx.scale.image_steps, "scale": ctx.name}
    for name in (CIFAR10, IMAGENET):
        per = {key: _arm_numbers(arms, name, a, model.num_codes) for key, a in _ROLES}
        b, d = (arms.values("used_code_cosine_distance", dataset=name, arm=a) for a in (BASELINE, DEFERRED))
        per.update(n=len(b), seeds=_seeds(len(b), name), used_more=_in_seeds(sum(x > y for x, y in zip(b, d)), len(b)),
                   climbing=per["baseline"]["utilization"] > per["baseline"]["before_end"])
        out[_slug(name)] = per
    out["normal_codes"] = _codes([round(out[_slug(n)]["normal"]["used_codes"]) for n in present])
    out["baseline_trend"] = ("still climbing" if all(out[_slug(n)]["climbing"] for n in present)
                             else "no longer climbing everywhere")
    out["verdicts"] = _verdict_sentence({topic: _verdict_across(rows, key, present) for topic, key in (
        ("usage", "utilization"), ("perplexity", "perplexity"), ("the spread of the codebook", "code_spread"),
        ("the similarity of the used codes", "used_spread"))})
    return facts(out, claims=rows)


def _codes(counts) -> str:
    """"one code", "24–37 codes"."""
    if not counts:
        return "n/a"
    low, high = min(counts), max(counts)
    return f"{low}–{high} codes" if low != high else "one code" if low == 1 else f"{low} codes"


def histogram_facts(usages: dict[str, dict[str, np.ndarray]]) -> Facts:
    """Section 2 (sorted usage, seed :data:`VIEW_SEED`), over the datasets shown: per arm (``baseline``,
    ``deferred``, ``normal``, ``uniform``) ``used`` (codes with p_k > 0, one per dataset), ``codes`` (the same
    in words: "one code", "24–37 codes") and ``top`` (the most used code's share of all tokens); ``K``."""
    out = {}
    for key, a in _ROLES:
        per = [u[a.id] for u in usages.values()]
        used = [int((p > 0).sum()) for p in per]
        out[key] = {"used": used, "codes": _codes(used), "top": [float(p.max()) for p in per]}
    return facts(out, K=len(next(iter(usages.values()))[BASELINE.id]))


def size_facts(sizes: Runs, available: dict[str, Dataset]) -> Facts:
    """Section 3 (codebook size): ``k_small``, ``k_large``, ``k_growth`` (their ratio), per arm the means by K
    (``perplexity``, ``recon_mse``, ``utilization`` in K order; ``small``/``large``: at the ends) and
    ``perplexity_growth`` (largest over smallest K); words: ``keeps_growing`` (deferral's perplexity rises at every
    K), ``keeps_falling`` (its error falls at every K), ``lower_small`` (in how many seeds deferral's error is the
    lower at the smallest K); ``behind_from``: the smallest K from which the baseline's error is the higher at every
    K; ``plateau``: where the baseline's perplexity stops growing (by less than the 5 % band up to the largest K;
    ``text``) and its perplexities up to there (``before``); the keyed claims; ``seeds`` in words, ``steps`` and
    ``train_images`` (CIFAR-10's, from ``available``)."""
    ks = sorted({c.labels["K"] for c in sizes.cases})
    out = {"k_small": ks[0], "k_large": ks[-1], "k_growth": ks[-1] / ks[0]}
    for key, arm in _PAIR:
        per = {m: [_mean(sizes.values(m, K=k, arm=arm)) for k in ks]
               for m in ("perplexity", "utilization", "recon_mse")}
        out[key] = {**per, "small": {m: v[0] for m, v in per.items()}, "large": {m: v[-1] for m, v in per.items()},
                    "perplexity_growth": per["perplexity"][-1] / per["perplexity"][0]}
    b, d = out["baseline"], out["deferred"]
    rising = all(y > x for x, y in zip(d["perplexity"], d["perplexity"][1:]))
    falling = all(y < x for x, y in zip(d["recon_mse"], d["recon_mse"][1:]))
    lower = [x < y for x, y in zip(*(sizes.values("recon_mse", K=ks[0], arm=a) for a in (DEFERRED, BASELINE)))]
    behind = [x < y for x, y in zip(d["recon_mse"], b["recon_mse"])]
    grows = [y > x * (1 + EQUAL_TOLERANCE) for x, y in zip(b["perplexity"], b["perplexity"][1:])] + [False]
    stop = next(i for i in range(len(ks)) if not any(grows[i:]))
    last = f"{b['perplexity'][-1]:.0f}"
    out["plateau"] = {"before": b["perplexity"][:stop + 1],
                      "text": f"stops growing after K = {ks[stop]:,} ({last} at {ks[-1]:,})" if stop < len(ks) - 1
                      else f"is still growing at K = {ks[-1]:,} ({last})"}
    out.update(keeps_growing="keeps growing" if rising else "does not keep growing",
               keeps_falling="keeps falling" if falling else "does not keep falling",
               lower_small=_in_seeds(sum(lower), len(lower)),
               behind_from=next((k for i, k in enumerate(ks) if all(behind[i:])), math.nan),
               seeds=_seeds(len(lower)), steps=sizes.results[0].spec.train.steps,
               train_images=available[CIFAR10].data.num_train)
    return facts(out, claims=_claim_rows(size_claims(sizes)))


def capacity_facts(capacity: Runs) -> Facts:
    """Section 4 (encoder capacity): for each knob (``channels``, ``blocks``) its ``points`` (``first``, ``last``)
    and per arm the means over seeds at each point (``rank``: embedding effective rank, ``recon_mse``,
    ``utilization``; ``ends``: the first and last of each); words: ``raise``/``lower`` say whether the baseline's
    rank rises and its error falls from the first to the last point (beyond the 5 % band); per arm ``utilization``
    at every capacity point; the keyed claim; ``seeds`` in words."""
    out: dict = {}
    for knob, key in (("channels", "channels"), ("res blocks", "blocks")):
        points = [v for k, v, _ in CAPACITY_KNOBS if k == knob]
        per = {"points": points, "first": points[0], "last": points[-1]}
        for arm_key, arm in _PAIR:
            means = {name: [_mean(capacity.values(m, knob=knob, value=v, arm=arm)) for v in points]
                     for name, m in (("rank", "embedding_effective_rank"), ("recon_mse", "recon_mse"),
                                     ("utilization", "utilization"))}
            per[arm_key] = {**means, "ends": {m: [v[0], v[-1]] for m, v in means.items()}}
        rank, error = per["baseline"]["rank"], per["baseline"]["recon_mse"]
        per["raise"] = "raise" if rank[-1] > rank[0] * (1 + EQUAL_TOLERANCE) else "do not raise"
        per["lower"] = "lower" if error[-1] < error[0] * (1 - EQUAL_TOLERANCE) else "do not lower"
        out[key] = per
    for arm_key, arm in _PAIR:
        out[arm_key] = {"utilization": capacity.select(arm=arm).table.groupby(["knob", "value"])["utilization"]
                        .mean().tolist()}
    n = len(capacity.values("utilization", knob="channels", value=CAPACITY_KNOBS[0][1], arm=BASELINE))
    return facts(out, seeds=_seeds(n), claims=_claim_rows(capacity_claims(capacity)))


def _view_counts(maps: dict[str, views.CodebookView]) -> dict:
    return {key: {"used": maps[a.id].num_used, "dead": int((~np.asarray(maps[a.id].used, bool)).sum())}
            for key, a in _PAIR}


def tsne_facts(maps: dict[str, views.CodebookView]) -> Facts:
    """The t-SNE maps (seed :data:`VIEW_SEED`): ``used`` and ``dead`` codes of the ``baseline`` and ``deferred``."""
    return facts(_view_counts(maps))


def shrinkage_facts(arms: Runs, pca: dict[str, views.CodebookView]) -> Facts:
    """Section 5 (shrinkage): per dataset (``cifar``, ``imagenet``) the baseline's codebook/embedding spread at its
    first evaluation after step 0 (``baseline.first``, ``first_steps`` later) and at the end (``baseline.final``),
    deferral's at the end (``deferred.final``), ``rank_higher`` (whose effective-rank ratio is the higher at the
    end: "the baseline's" or "deferral's") and ``seeds`` in words; ``rank_range``: (min, max) of the effective-rank
    ratio's mean curves of both arms on every dataset; ``pca``: used and dead codes of the PCA views (seed
    :data:`VIEW_SEED`); ``Verdict``: the spread claims' verdict, capitalized."""
    out: dict = {"pca": _view_counts(pca)}
    ranks = []
    for name in (CIFAR10, IMAGENET):
        base, deferred = (arms.mean_curve("shrinkage_euclidean", dataset=name, arm=a) for a in (BASELINE, DEFERRED))
        rank = [arms.mean_curve("shrinkage_rank", dataset=name, arm=a) for a in (BASELINE, DEFERRED)]
        ranks += [v for curve in rank for v in curve.tolist()]
        ends = [_at(curve, -1) for curve in rank]
        n = len(arms.select(dataset=name, arm=BASELINE))
        out[_slug(name)] = {
            "baseline": {"first": _at(base, 1), "final": _at(base, -1)}, "deferred": {"final": _at(deferred, -1)},
            "first_steps": int(base.index[1] - base.index[0]) if len(base) > 1 else 0, "seeds": _seeds(n, name),
            "rank_higher": "n/a" if math.isnan(sum(ends)) else "the baseline's" if ends[0] > ends[1] else "deferral's"}
    out["rank_range"] = [min(ranks), max(ranks)] if ranks else [math.nan, math.nan]
    verdict = _verdict_across(_claim_rows(arm_claims(arms)), "shrinkage", _present(arms))
    return facts(out, Verdict=verdict[:1].upper() + verdict[1:])


def _less_more(effect: float, less: str, more: str) -> str:
    return "n/a" if math.isnan(effect) else less if effect < 1 else more


def verdict_facts(arms: Runs, sizes: Runs, capacity: Runs) -> Facts:
    """The claims table in words: ``tally`` ("13 of 16 rows agree and 3 disagree"), ``not_agreeing`` (those rows'
    claims with their verdict and effect, or "none"), the keyed claims (a missing dataset's: "n/a"), the values per
    side of the CIFAR-10 arm rows (``headline_n``) and of the sweeps' rows (``sweep_n``), the smallest K, and words
    on the two rows the prose discusses: ``used_spread`` ("less" or "more": deferral's used codes against the
    baseline's, on CIFAR-10) and ``small_k_error`` ("lower" or "higher": deferral's error at the smallest K)."""
    found = claims(arms, sizes, capacity)
    table, by_key, rows = [claim_row(c) for c in found], {c.key: c for c in found}, _claim_rows(found)
    counts = {v: sum(r["verdict"] == v for r in table) for v in ("agrees", "disagrees", "inconclusive")}
    tally = [f"{counts['agrees']} of {len(table)} rows agree", f"{counts['disagrees']} disagree",
             f"{counts['inconclusive']} {'is' if counts['inconclusive'] == 1 else 'are'} inconclusive"]
    others = [f"{r['claim']} ({r['verdict']}, {r['effect']} {r['effect size']:.2f})" for r in table
              if r["verdict"] != "agrees"]
    return facts(tally=join([tally[0]] + [t for t, v in zip(tally[1:], ("disagrees", "inconclusive")) if counts[v]]),
                 not_agreeing="; ".join(others) or "none", claims=rows,
                 headline_n=len(by_key["cifar_utilization"].first), sweep_n=len(by_key["small_k_recon"].first),
                 k_small=min(c.labels["K"] for c in sizes.cases),
                 used_spread=_less_more(rows.cifar_used_spread.effect, "less", "more"),
                 small_k_error=_less_more(rows.small_k_recon.effect, "lower", "higher"))


