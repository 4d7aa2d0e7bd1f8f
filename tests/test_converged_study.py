"""When a run has finished learning (vqlib.studies.core.learning_finished), the claims' ``finished`` column, and
notebook 02's long runs (vqlib.studies.converged) on synthetic curves whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest

from vqlib.experiments import RunResult
from vqlib.studies import Claim, Runs, claims_table, context, converged
from vqlib.studies.core import all_finished, learning_finished

NAN = math.nan


def _history(values, steps=None, metric="utilization"):
    steps = steps if steps is not None else [i * 100 for i in range(len(values))]
    return pd.DataFrame({"step": steps, metric: values})


def test_a_run_has_finished_when_the_measure_moves_less_than_the_band_over_the_last_quarter():
    # 600 steps: the value at 400 (the last evaluation a quarter before the end) against the end
    assert learning_finished(_history([1.0, 0.2, 0.3, 0.4, 0.50, 0.51, 0.52]), "utilization") is True  # 4 %
    assert learning_finished(_history([1.0, 0.2, 0.3, 0.4, 0.45, 0.50, 0.55]), "utilization") is False  # 18 %
    # a fall counts as much as a rise
    assert learning_finished(_history([1.0, 0.9, 0.8, 0.7, 0.60, 0.56, 0.54]), "utilization") is False
    assert learning_finished(_history([0.0] * 7), "utilization") is True  # nothing moves


def test_a_run_that_cannot_be_checked_is_not_called_finished():
    # endpoints only (start, switch, end): the switch lies too long before the end to say anything of it
    assert learning_finished(_history([1.0, 0.5, 0.5], steps=[0, 200, 600]), "utilization") is None
    # a deferred arm's code metric starts at the switch; a late switch leaves nothing a quarter before the end
    assert learning_finished(_history([NAN] * 5 + [0.9, 0.9]), "utilization") is None
    assert learning_finished(_history([0.5]), "utilization") is None


def test_all_finished_is_false_if_any_is_false_and_unknown_if_any_is_unknown():
    assert all_finished(True, True) is True
    assert all_finished(True, None) is None
    assert all_finished(None, False, True) is False


def test_the_claims_table_says_whether_the_runs_behind_a_row_finished():
    rows = claims_table([Claim("a", "higher", [2.0], [1.0], finished=True),
                         Claim("b", "higher", [2.0], [1.0], finished=False), Claim("c", "higher", [2.0], [1.0])])
    assert list(rows["finished"]) == ["yes", "no", "not checked"]
    assert list(rows["verdict"]) == ["agrees"] * 3  # the verdict rule itself is unchanged


def test_the_long_runs_are_the_reference_runs_and_the_headline_seeds():
    ctx = context("default", cifar_root="/nowhere")
    cases = converged.cases(ctx)
    by_k = {k: [c for c in cases if c.labels["K"] == k] for k in (256, 4096)}
    assert len(by_k[256]) == 2 * ctx.scale.image_seeds == 10 and len(by_k[4096]) == 2 * 2
    reference = next(c.spec for c in by_k[256] if c.spec.seed == 0 and c.labels["arm"] == "early_kmeans")
    assert (reference.train.steps, reference.train.eval_every, reference.train.quantize_from) == (12000, 250, 0)
    assert reference.data.train_images is None and reference.data.eval_images == 2000
    deferred = next(c.spec for c in by_k[4096] if c.labels["arm"] == "deferred")
    assert deferred.train.quantize_from == 4000 and deferred.model.num_codes == 4096


STEPS = list(range(0, 12001, 250))


def _curve(kind: str) -> np.ndarray:
    t = np.asarray(STEPS, dtype=float)
    if kind == "recovers":  # collapses, then climbs back and settles from step 7,000
        return np.where(t == 0, 1.0, np.clip(0.25 + 0.75 * t / 7000, 0, 1.0))
    if kind == "climbing":  # still rising at the end
        return np.where(t == 0, 1.0, 0.05 + 0.1 * t / 12000)
    if kind == "deferred":
        return np.where(t < 4000, NAN, 0.97)
    raise ValueError(kind)


def _long_runs(ctx) -> Runs:
    results = []
    cases = converged.cases(ctx)
    for case in cases:
        kind = ("deferred" if case.labels["arm"] == "deferred"
                else "recovers" if case.labels["size"] == "small" else "climbing")
        use = _curve(kind)
        history = pd.DataFrame({"step": STEPS, "utilization": use, "perplexity": use * case.labels["K"],
                                "code_cosine_distance": np.where(np.isnan(use), NAN, 0.9),
                                "shrinkage_euclidean": use, "recon_mse": np.full(len(STEPS), 0.016)})
        key = f"synthetic-{case.labels['size']}-{case.labels['arm']}-{case.spec.seed}"
        results.append(RunResult(case.spec, history, {}, "synthetic", wall_time=100.0 * case.labels["K"] / 256,
                                 key=key))
        # the centred spread needs the model: known values instead (deferral's codes as spread as the baseline's)
        converged._CENTRED[key] = 0.99 if case.labels["arm"] == "deferred" else 1.0
    return Runs(cases, results)


def test_long_run_claims_carry_whether_the_baseline_finished():
    ctx = context("default", cifar_root="/nowhere")
    rows = claims_table(converged.claims(_long_runs(ctx))).set_index("claim")
    small = rows[rows.index.str.startswith("CIFAR-10 K=256, 12,000 steps")]
    large = rows[rows.index.str.startswith("CIFAR-10 K=4096, 12,000 steps")]
    assert len(small) == len(large) == len(converged.METRICS) + 1  # and the centred code spread
    centred = small[small.index.str.contains("centred on the embeddings' mean")]
    assert centred["effect size"].item() == pytest.approx(0.99) and centred["finished"].item() == "not checked"
    assert centred["verdict"].item() == "disagrees"  # equal within the band, the paper expects higher
    assert set(small["finished"]) == {"yes", "not checked"}  # the centred spread: an end-of-training view
    assert large.loc[large.index.str.contains(": utilization,"), "finished"].item() == "no"
    assert large.loc[large.index.str.contains("reconstruction MSE"), "finished"].item() == "yes"  # flat
    # settled, the K=256 arms are level on utilization (1.0 against 0.97): equal within the band
    assert small.loc[small.index.str.contains(": utilization,"), "effect size"].item() == pytest.approx(0.97)


def test_long_run_facts_say_where_the_baseline_settled_and_what_has_not():
    ctx = context("default", cifar_root="/nowhere")
    f = converged.curve_facts(_long_runs(ctx), short_steps=600)
    # within 5 % of its final 1.0 from 0.95 on: 0.25 + 0.75 t / 7000 >= 0.95 from t = 6,533, evaluated at 6,750
    assert f.small.baseline.utilization_settled == 6750
    assert f.small.baseline.utilization_at_short == pytest.approx(0.25 + 0.75 * 500 / 7000)
    assert f.small.finished_text.startswith("every measure of both arms changes by less than 5 %")
    assert math.isnan(f.large.baseline.utilization_settled)  # still climbing: never settled
    assert "the baseline's utilization" in f.large.finished_text and "deferred" not in f.large.finished_text
    assert f.large.cost == pytest.approx(16.0)
    assert (f.small.K, f.large.K, f.small.seeds, f.large.seeds, f.small.t_c) == (256, 4096, 5, 2, 4000)


def test_the_progress_estimate_takes_the_time_of_the_most_similar_cached_run():
    from vqlib.studies.every_run import estimate_seconds

    ctx = context("default", cifar_root="/nowhere")
    small = [c.spec for c in converged.cases(ctx) if c.labels["size"] == "small"]
    large = [c.spec for c in converged.cases(ctx) if c.labels["size"] == "large"]
    done = [(small[0], {"wall_time": 500.0}), (small[1], {"wall_time": 520.0}), (large[0], {"wall_time": 1600.0}),
            (small[2], None)]  # an unreadable entry counts for nothing
    assert estimate_seconds(large[1:2], done) == 1600.0  # the same K and steps
    assert estimate_seconds(small[3:5], done) == 2 * 510.0
    assert estimate_seconds([], done) == 0.0


def test_the_progress_line_says_the_time_left_in_words():
    from vqlib.studies.every_run import _duration

    assert [_duration(s) for s in (20, 12 * 60, 125 * 60)] == ["under a minute", "about 12 min", "about 2 h 05 min"]
