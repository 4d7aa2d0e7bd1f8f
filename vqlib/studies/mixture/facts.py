"""The facts each sentence of notebook 01 states: one ``<section>_facts`` per section of the notebook, computed
from its runs, with the verdicts of the section's claims (rendered by :func:`vqlib.studies.prose.say`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ... import metrics
from ...data import prepare
from ...experiments import RunResult
from ...train import encode_all
from ..arms import INITIALIZATION_ARMS
from ..claims import EQUAL_TOLERANCE, Claim, direction, verdict
from ..context import Context
from ..core import Runs
from ..prose import Facts, claim_facts, facts, join
from .study import (
    BASELINE,
    CAPACITIES,
    CODEBOOK_SIZES,
    DEFERRED,
    EARLIER_SEEDS,
    PHASE_CODES_PER_COMPONENT,
    PHASE_DIMS,
    PHASE_GAIN,
    PHASE_GAINS,
    PHASE_K_PER_C,
    PHASE_RATIOS,
    PHASE_SLICES,
    PICTURE_DIMS,
    RELATIVE_SCALES,
    _memo,
    _widths,
    capacity_claims,
    capacity_frame,
    centred_spreads,
    codebook_size_claims,
    encoder_spreads,
    init_scale_claims,
    mode_counts,
    mode_entropies,
    phase_grids,
    picture_claims,
    seeds,
    shrinkage_claims,
    spreads,
    sweep_seeds,
    toy_claims,
    usage_claims,
)

__all__ = ["picture_facts", "tsne_facts", "usage_facts", "init_scale_facts", "capacity_facts", "codebook_size_facts",
           "shrinkage_facts", "toy_facts", "phase_facts", "settings_facts", "claims_facts", "COLLAPSE_BELOW"]

_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")

def _word(n: int) -> str:
    """A count as prose writes it ("two"; digits from 13 on)."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def _verdicts(rows: list[Claim]) -> Facts:
    """:func:`vqlib.studies.prose.claim_facts`, each row with its verdict capitalized too (``Verdict``), for a
    sentence that starts with it."""
    out = claim_facts(rows)
    for row in out.values():
        row["Verdict"] = row["verdict"].capitalize()
    return out


def _seed_count(runs: Runs) -> int:
    return len({r.spec.seed for r in runs.results})


def _first_seeds(runs: Runs, n: int) -> Runs:
    """The runs of seeds 0 to n - 1."""
    keep = [(c, r) for c, r in runs if r.spec.seed < n]
    return Runs([c for c, _ in keep], [r for _, r in keep])


def _curve(runs: Runs, metric: str, **where) -> pd.Series:
    """The mean over seeds of ``metric`` at every evaluated step."""
    frames = [r.history for r in runs.select(**where).results]
    return pd.concat(frames).groupby("step")[metric].mean()


def _used_and_dead(result: RunResult) -> tuple[int, float]:
    """Codes used on the evaluation set, and the dead codes' mean pairwise distance in the lookup space."""
    def compute(run):
        model = run.model()
        indices = encode_all(model, prepare(run.spec.data).eval)[3]
        codes = model.quantizer.codes()
        used = torch.bincount(indices, minlength=codes.shape[0]) > 0
        dead = codes[~used]
        return int(used.sum()), metrics.mean_pairwise_euclidean_distance(dead) if len(dead) > 1 else math.nan

    return _memo("used and dead codes", result, compute)


def picture_facts(picture: Runs, ctx: Context) -> Facts:
    """Section 1: codes used and dead, modes lost, and the spreads of untrained and trained encoders."""
    early = {dim: picture.one(D=dim, arm=BASELINE) for dim in PICTURE_DIMS}
    deferred = {dim: picture.one(D=dim, arm=DEFERRED) for dim in PICTURE_DIMS}
    k = early[PICTURE_DIMS[0]].spec.model.num_codes
    c = early[PICTURE_DIMS[0]].spec.data.num_components
    used_dead = {dim: _used_and_dead(r) for dim, r in early.items()}
    used = [used_dead[dim][0] for dim in PICTURE_DIMS]
    deferred_used = [_used_and_dead(r)[0] for r in deferred.values()]
    lost = [dim for dim in PICTURE_DIMS if early[dim].final["coverage"] < 1]
    spread = encoder_spreads(picture)
    return facts(
        scale=ctx.name, K=k, D=list(PICTURE_DIMS), modes=_word(c),
        baseline=dict(used=used, most="most" if max(used) < k / 2 else "many",
                      dead=[k - n for n in used], dead_spread=[used_dead[dim][1] for dim in PICTURE_DIMS]),
        deferred=dict(used=f"all {k}" if min(deferred_used) == k else f"{join(map(str, deferred_used))} of {k}"),
        lost=dict(D=lost, modes=[_word(round((1 - early[d].final["coverage"]) * c)) for d in lost],
                  coverage=[early[d].final["coverage"] for d in lost],
                  reconstruction_coverage=[early[d].final["reconstruction_coverage"] for d in lost],
                  misreconstructed=[_word(round((1 - early[d].final["reconstruction_coverage"]) * c)) for d in lost]),
        kept=dict(D=[dim for dim in PICTURE_DIMS if dim not in lost]),
        untrained=spread["untrained"], trained=spread["trained"],
        zoom=[t / u for t, u in zip(spread["trained"], spread["untrained"])],
        claims=_verdicts(picture_claims(picture)))


def tsne_facts(picture: Runs) -> Facts:
    """Below the t-SNE maps: how many codes deferral puts in each mode."""
    return facts(deferred=dict(per_mode=[int(n) for c in mode_counts(picture)[DEFERRED.id] for n in c]))


def usage_facts(usage: Runs) -> Facts:
    """Section 2: usage, spreads and coverage of the four arms, the baseline's utilization over training, and
    the coverage verdict on the seeds used before (EARLIER_SEEDS)."""
    table = usage.table.groupby("arm")[["utilization", "perplexity", "coverage", "code_cosine_distance",
                                        "used_code_cosine_distance", "recon_mse"]].mean()
    arms = {a: dict(table.loc[a], centred=float(np.mean(centred_spreads(usage, a)))) for a in INITIALIZATION_ARMS}
    curve = _curve(usage, "utilization", arm=BASELINE)
    after = curve[curve.index > curve.index.min()]
    deferred_min = min(usage.values("utilization", arm=DEFERRED))
    coverage_min = min(usage.values("coverage", arm=DEFERRED))
    c = usage.results[0].spec.data.num_components
    rows = _verdicts(usage_claims(usage))
    earlier = _first_seeds(usage, EARLIER_SEEDS)
    return facts(
        K=usage.results[0].spec.model.num_codes, seeds=_seed_count(usage),
        baseline={**arms[BASELINE.id], "start": curve.iloc[0], "dip": after.min(), "dip_step": int(after.idxmin())},
        deferred={**arms[DEFERRED.id],
                  "uses": "every code on every seed" if deferred_min == 1 else
                  f"{100 * arms[DEFERRED.id]['utilization']:.0f} % of its codes on average",
                  "covers": f"all {_word(c)} on every seed" if coverage_min == 1 else
                  f"{100 * arms[DEFERRED.id]['coverage']:.0f} % on average"},
        normal=arms["early_normal"], uniform=arms["early_uniform"],
        random_spread=[arms["early_normal"]["code_cosine_distance"], arms["early_uniform"]["code_cosine_distance"]],
        band="lies beyond" if rows.coverage.low > 1 / (1 - EQUAL_TOLERANCE) else "reaches into",
        earlier=dict(seeds=_seed_count(earlier), claims=_verdicts(usage_claims(earlier)),
                     baseline_coverage=float(np.mean(earlier.values("coverage", arm=BASELINE)))),
        claims=rows)


def _scale_text(scale: float) -> str:
    """A relative scale as a multiple: 10⁻³×, 0.1×, 10×."""
    if scale < 0.1:
        power = str(round(math.log10(scale))).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"10{power}×"
    return f"{scale:g}×"


def init_scale_facts(init_scale: Runs, reference: Runs, ctx: Context) -> Facts:
    """Section 3: the random-normal codebook at every scale against the baseline and deferral."""
    shown = ["utilization", "coverage", "perplexity"]
    means = init_scale.table.groupby("relative_scale")[shown].mean()
    ref = reference.table.groupby("arm")[shown].mean()
    base = ref.loc[BASELINE.id]
    spec = init_scale.results[0].spec
    small = [s for s in RELATIVE_SCALES if s <= 1]
    better = [s for s in small if all(means.loc[s, m] > base[m] for m in shown)]
    worse = [s for s in small if s not in better]
    wide = [s for s in RELATIVE_SCALES if s > 1]
    overlap = any(min(init_scale.values(m, relative_scale=s)) <= max(reference.values(m, arm=BASELINE))
                  for s in better for m in shown)
    spread = spreads(ctx)

    def group(scales):
        return {"scales": [_scale_text(s) for s in scales], **{m: [means.loc[s, m] for s in scales] for m in shown}}

    return facts(
        seeds=_seed_count(init_scale), better={**group(better), "overlap": "overlap" if overlap else "lie above"},
        worse=group(worse), wide={**group(wide), "codes": [means.loc[s, "utilization"] * spec.model.num_codes
                                                           for s in wide],
                                  "components": [means.loc[s, "coverage"] * spec.data.num_components for s in wide]},
        baseline=dict(base), deferred=dict(ref.loc[DEFERRED.id]), data_spread=spread["data"],
        untrained_spread=spread["untrained_encoder"], spread_ratio=spread["data"] / spread["untrained_encoder"],
        claims=_verdicts(init_scale_claims(init_scale, reference)))


def capacity_facts(capacity: Runs) -> Facts:
    """Section 4: effective rank, spread, coverage and utilization against encoder depth and width."""
    means = capacity_frame(capacity).groupby(["capacity", "arm"])[["embedding_effective_rank", "embedding spread",
                                                                   "coverage", "utilization"]].mean()
    narrow, wide = _widths()
    depths = sorted(d for label, d, w in CAPACITIES if not label.startswith("width"))
    by_depth = {d: label for label, d, w in CAPACITIES if not label.startswith("width")}
    linear, deepest, deep = by_depth[depths[0]], by_depth[depths[-1]], [by_depth[d] for d in depths[-2:]]
    labels = [label for label, _, _ in CAPACITIES]
    partial = [label for label in labels if means.loc[(label, DEFERRED.id), "utilization"] < 1 - EQUAL_TOLERANCE]
    lower = all(means.loc[(deepest, a.id), "embedding_effective_rank"] < means.loc[(linear, a.id),
                "embedding_effective_rank"] for a in (BASELINE, DEFERRED))
    rows = _verdicts(capacity_claims(capacity))
    width_verdicts = {rows.width_rank.verdict, rows.width_coverage.verdict}
    overall = ("Partly agrees" if lower else "Agrees") if width_verdicts == {"agrees"} else \
        join(sorted(width_verdicts), "and").capitalize()
    steps = capacity.results[0].spec.train.steps

    def at(label, arm, metric):
        return means.loc[(label, arm.id), metric]

    return facts(
        seeds=_seed_count(capacity), latent_dim=capacity.results[0].spec.model.latent_dim,
        components=capacity.results[0].spec.data.num_components, steps=steps,
        quantized=steps - DEFERRED.t_c(steps), narrow=dict(width=narrow, rank=at(f"width {narrow}", BASELINE,
                                                                                  "embedding_effective_rank"),
                                                           coverage=at(f"width {narrow}", BASELINE, "coverage")),
        wide=dict(width=wide, rank=at(f"width {wide}", BASELINE, "embedding_effective_rank"),
                  coverage=at(f"width {wide}", BASELINE, "coverage")),
        depth=dict(direction="lower" if lower else "higher", opposite="the opposite" if lower else "the same",
                   deepest=depths[-1], deep=depths[-2:],
                   linear_rank=[at(linear, a, "embedding_effective_rank") for a in (BASELINE, DEFERRED)],
                   baseline_rank=at(deepest, BASELINE, "embedding_effective_rank"),
                   deferred_rank=at(deepest, DEFERRED, "embedding_effective_rank"),
                   deferred_spread=at(deepest, DEFERRED, "embedding spread"),
                   baseline_spread=[at(by_depth[d], BASELINE, "embedding spread") for d in depths],
                   linear_coverage=at(linear, BASELINE, "coverage"),
                   deep_coverage=[at(label, BASELINE, "coverage") for label in deep]),
        deferred_coverage=[at(label, DEFERRED, "coverage") for label in labels],
        partial=dict(capacities=partial, utilization=[at(label, DEFERRED, "utilization") for label in partial],
                     coverage=[at(label, DEFERRED, "coverage") for label in partial]),
        overall=overall, claims=rows)


def codebook_size_facts(sizes: Runs) -> Facts:
    """Section 5: both arms at every K, the smallest K against the largest."""
    means = sizes.table.groupby(["K", "arm"])[["utilization", "perplexity", "coverage", "recon_mse"]].mean()
    c = sizes.results[0].spec.data.num_components
    small, large = min(CODEBOOK_SIZES), max(CODEBOOK_SIZES)
    mid = min(k for k in CODEBOOK_SIZES if k >= c)
    full = [k for k in CODEBOOK_SIZES if all(means.loc[(j, DEFERRED.id), "coverage"] == 1
                                              for j in CODEBOOK_SIZES if j >= k)]

    def at(k, arm, metric):
        return means.loc[(k, arm.id), metric]

    b_small, d_small = at(small, BASELINE, "perplexity"), at(small, DEFERRED, "perplexity")
    return facts(
        C=c, seeds=_seed_count(sizes),
        small=dict(K=small, uses="every code" if min(at(small, a, "utilization") for a in (BASELINE, DEFERRED)) == 1
                   else "part of their codes",
                   same="the same" if direction(d_small, b_small) == "equal" else "a different",
                   baseline_perplexity=b_small, deferred_perplexity=d_small,
                   coverage=[at(small, a, "coverage") for a in (BASELINE, DEFERRED)],
                   baseline_mse=at(small, BASELINE, "recon_mse"), deferred_mse=at(small, DEFERRED, "recon_mse"),
                   worse="worse" if at(small, DEFERRED, "recon_mse") > at(small, BASELINE, "recon_mse") else "better"),
        mid=dict(K=mid, deferred_perplexity=at(mid, DEFERRED, "perplexity")),
        large=dict(K=large, baseline_utilization=at(large, BASELINE, "utilization"),
                   deferred_perplexity=at(large, DEFERRED, "perplexity")),
        baseline_perplexity=[at(k, BASELINE, "perplexity") for k in CODEBOOK_SIZES if k >= mid],
        full_from=min(full) if full else math.nan, claims=_verdicts(codebook_size_claims(sizes)))


def shrinkage_facts(shrinkage: Runs) -> Facts:
    """Section 6: the baseline's spreads over training, both arms' final spreads and effective dimensions."""
    means = shrinkage.table.groupby("arm")[["shrinkage_euclidean", "shrinkage_cosine", "shrinkage_rank",
                                            "code_euclidean_distance", "embedding_euclidean_distance",
                                            "code_components_99", "embedding_components_99"]].mean()
    base, deferred = means.loc[BASELINE.id], means.loc[DEFERRED.id]
    euclid, cosine = (_curve(shrinkage, m, arm=BASELINE) for m in ("shrinkage_euclidean", "shrinkage_cosine"))
    code, embedding = (_curve(shrinkage, m, arm=BASELINE) for m in ("code_euclidean_distance",
                                                                     "embedding_euclidean_distance"))
    settle = DEFERRED.t_c(shrinkage.results[0].spec.train.steps)
    late = euclid.index >= settle
    deviation = max((euclid[late] - base["shrinkage_euclidean"]).abs().max(),
                    (cosine[late] - base["shrinkage_cosine"]).abs().max())
    held = base["embedding_euclidean_distance"] / deferred["embedding_euclidean_distance"]
    return facts(
        C=shrinkage.results[0].spec.data.num_components, seeds=_seed_count(shrinkage),
        baseline=dict(base), deferred=dict(deferred),
        dip=dict(euclidean=euclid.min(), cosine=cosine.min(), step=int(euclid.idxmin())),
        settle=dict(step=settle, deviation=deviation),
        code=dict(start=code.iloc[0], end=base["code_euclidean_distance"]),
        embedding=dict(start=embedding.iloc[0], end=base["embedding_euclidean_distance"]),
        growth=(base["embedding_euclidean_distance"] - embedding.iloc[0])
        / (base["code_euclidean_distance"] - code.iloc[0]),
        held_back="less than half" if held < 0.5 else f"{100 * held:.0f} % of",
        claims=_verdicts(shrinkage_claims(shrinkage)))


def toy_facts(picture: Runs) -> Facts:
    """Section 7: how the codes spread over the modes, and the diversity it allows."""
    counts = mode_counts(picture)
    entropy = mode_entropies(picture, counts)
    spec = picture.results[0].spec
    k, c = spec.model.num_codes, spec.data.num_components
    crowded, others = [], set()
    for dim, per_mode in zip(PICTURE_DIMS, counts[BASELINE.id]):
        big = sorted((int(n) for n in per_mode if n > 1), reverse=True)
        crowded.append(f"{join(map(str, big))} of {k} in {_word(len(big))} mode{'' if len(big) == 1 else 's'} "
                       f"at D = {dim}")
        others |= {int(n) for n in per_mode if n <= 1}
    sizes = sorted({sum(n > 1 for n in per_mode) for per_mode in counts[BASELINE.id]})
    covered = [int((per_mode > 0).sum()) for per_mode in counts[BASELINE.id]]
    deferred_modes = min(int((per_mode > 0).sum()) for per_mode in counts[DEFERRED.id])
    return facts(
        K=k, C=c, ceiling=math.log(c),
        deferred=dict(modes=f"all {_word(c)} modes" if deferred_modes == c else f"{_word(deferred_modes)} modes",
                      per_mode=[int(n) for per_mode in counts[DEFERRED.id] for n in per_mode],
                      entropy=entropy[DEFERRED.id], effective=[math.exp(e) for e in entropy[DEFERRED.id]]),
        baseline=dict(crowded="; ".join(crowded), crowded_modes=join([_word(int(n)) for n in sizes], "or"),
                      rest={frozenset({0, 1}): "one code or none", frozenset({1}): "one code"}.get(
                          frozenset(others), "none"),
                      entropy=entropy[BASELINE.id], low=min(entropy[BASELINE.id]), high=max(entropy[BASELINE.id]),
                      effective=[math.exp(e) for e in entropy[BASELINE.id]]),
        full=dict(D=[dim for dim, n in zip(PICTURE_DIMS, covered) if n == c]),
        missing=dict(D=[dim for dim, n in zip(PICTURE_DIMS, covered) if n < c],
                     modes=[_word(c - n) for n in covered if n < c]),
        claims=_verdicts(toy_claims(picture)))


#: a phase cell "collapses" when the baseline ends with fewer than this fraction of its codes in use
COLLAPSE_BELOW = 0.5


def phase_facts(phase: Runs, spreads: pd.DataFrame) -> Facts:
    """Section 8: the baseline's utilization and coverage and deferral's perplexity gain at the edges of each slice
    of the phase diagram (``spreads``: :func:`phase_spreads`, the data's spread over the untrained encoder's)."""
    grids = phase_grids(phase)
    tight, wide = max(PHASE_RATIOS), min(PHASE_RATIOS)  # separated modes, and modes that overlap

    def edge(column, value):  # one column of a slice, from the separated row to the overlapping one
        g = grids[column]
        return dict(utilization=[g["utilization"].loc[r, value] for r in (tight, wide)],
                    coverage=[g["coverage"].loc[r, value] for r in (tight, wide)],
                    gain=[g["gain"].loc[r, value] for r in (tight, wide)])

    def row(column, ratio):  # one row of a slice, along its swept values
        g = grids[column]
        return dict(utilization=list(g["utilization"].loc[ratio]), coverage=list(g["coverage"].loc[ratio]),
                    gain=list(g["gain"].loc[ratio]))

    names = {"D": "D = {}", "K_per_C": "K / C = {}", "gain": "encoder scale x{:g}"}
    collapsed, covered = [], []
    centre = {"K_per_C": PHASE_K_PER_C, "gain": PHASE_GAIN}  # the cell the three slices share: named once, by D
    for column, values in PHASE_SLICES:
        for ratio in PHASE_RATIOS:
            for value in values:
                if centre.get(column) == value:
                    continue
                cell = f"{names[column].format(value)} at {ratio:g} std"
                if grids[column]["utilization"].loc[ratio, value] < COLLAPSE_BELOW:
                    collapsed.append(cell)
                if grids[column]["coverage"].loc[ratio, value] < 1:
                    covered.append(f"{cell} ({100 * grids[column]['coverage'].loc[ratio, value]:.0f} %)")
    gain_row = row("gain", tight)
    rising = np.all(np.diff(gain_row["utilization"]) > 0) and np.all(np.diff(gain_row["gain"]) < 0)
    return facts(
        seeds=phase.table.seed.nunique(), tight=tight, wide=wide, collapse_below=COLLAPSE_BELOW,
        collapsed=join(collapsed) or "no cell", lost_modes=join(covered) or "no cell",
        dims=dict(swept=list(PHASE_DIMS), tight=row("D", tight), wide=row("D", wide),
                  collapsed=join(str(d) for d in PHASE_DIMS
                                 if grids["D"]["utilization"].loc[tight, d] < COLLAPSE_BELOW) or "no D",
                  kept=join(str(d) for d in PHASE_DIMS
                            if grids["D"]["utilization"].loc[tight, d] >= COLLAPSE_BELOW) or "no D"),
        codes=dict(swept=list(PHASE_CODES_PER_COMPONENT), few=min(PHASE_CODES_PER_COMPONENT),
                   most=max(PHASE_CODES_PER_COMPONENT), one=edge("K_per_C", min(PHASE_CODES_PER_COMPONENT)),
                   many=edge("K_per_C", max(PHASE_CODES_PER_COMPONENT))),
        gains=dict(swept=list(PHASE_GAINS), spread=[float(spreads[g].mean()) for g in PHASE_GAINS],
                   tight=gain_row, wide=row("gain", wide),
                   trend=("the narrower the untrained encoder's outputs against the data, the stronger the collapse"
                          if rising else "no steady trend along this axis")))


def settings_facts(ctx: Context) -> Facts:
    """The settings paragraph: budgets, T_c and seeds at this scale."""
    s = ctx.scale
    return facts(steps=s.mixture_steps, batch=s.mixture_batch, t_c=DEFERRED.t_c(s.mixture_steps),
                 sweep_steps=s.sweep_steps, seeds=s.seeds, seed_list=seeds(ctx), sweep_seeds=s.sweep_seeds,
                 sweep_seed_list=sweep_seeds(ctx))


def claims_facts(usage: Runs, shrinkage: Runs) -> Facts:
    """Above the claims table: the headline rows (sections 2 and 6) now, and which verdicts changed since they
    rested on EARLIER_SEEDS seeds."""
    now = usage_claims(usage) + shrinkage_claims(shrinkage)
    before = usage_claims(_first_seeds(usage, EARLIER_SEEDS)) + shrinkage_claims(_first_seeds(shrinkage, EARLIER_SEEDS))
    changed = [a.text for a, b in zip(now, before) if verdict(a)["verdict"] != verdict(b)["verdict"]]
    earlier, rows = _verdicts(before), _verdicts(now)
    return facts(seeds=_seed_count(usage), changed=_word(len(changed)), changed_rows=changed,
                 earlier=dict(seeds=_seed_count(_first_seeds(usage, EARLIER_SEEDS)), claims=earlier),
                 used_spread_history="as before" if earlier.used_spread.verdict == rows.used_spread.verdict
                 else f"where it read *{earlier.used_spread.verdict}* before",
                 claims=rows)
