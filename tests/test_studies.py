"""The study layer: the arm registry, the one claims rule, cases and runs, and the specs notebooks share."""

import dataclasses
import math

import pandas as pd
import pytest

from vqlib.data import MixtureSpec
from vqlib.experiments import ModelSpec, RunSpec
from vqlib.studies import (
    ARMS,
    BASELINE,
    COLORS,
    DEFERRED,
    Case,
    Claim,
    arm,
    arm_case,
    claims_table,
    colors,
    context,
    fixes,
    generation,
    mixture,
    real_images,
    registry,
    run_cases,
    settings,
)
from vqlib.studies.arms import FAMILY_COLORS, FSQ_CODES
from vqlib.studies.claims import direction
from vqlib.train import TrainSpec

BASE = RunSpec(MixtureSpec(num_components=3, points_per_component=40, dim=2),
               ModelSpec(num_codes=6, latent_dim=8, depth=1, width=16),
               TrainSpec(steps=30, batch_size=32, eval_every=10))


# -- arms --------------------------------------------------------------------------------------------------
def test_every_arm_has_a_unique_id_label_and_colour_and_keeps_the_budget():
    labels = [a.label for a in ARMS.values()]
    assert len(set(labels)) == len(labels)
    assert all(a.id == key and a.family in ("early", "deferred", "reference") for key, a in ARMS.items())
    by_key = colors()  # every arm's colour by id and by label (plots group by either)
    assert set(by_key) == set(ARMS) | set(labels)
    for a in ARMS.values():  # a label never shadows another arm's id with its own colour
        assert by_key[a.id] == by_key[a.label] == a.color, a.id
    assert len({a.color for a in ARMS.values()}) == len(ARMS)  # no two arms look alike
    assert by_key[DEFERRED.label] == FAMILY_COLORS["deferred"] != by_key[BASELINE.label] == FAMILY_COLORS["early"]
    assert COLORS == by_key
    for a in ARMS.values():
        spec = a(BASE)
        assert (spec.data, spec.seed, spec.train.steps, spec.train.batch_size) == (BASE.data, BASE.seed, 30, 32)
        # the FSQ arms' K is their grid's (the product of their levels), every other arm keeps the model's
        k = FSQ_CODES if spec.model.quantizer == "fsq" else 6
        assert (spec.model.num_codes, spec.model.latent_dim) == (k, 8)
        early = a.family != "deferred"
        assert (spec.train.quantize_from == 0) == early, a.id


def test_the_protocol_arms_are_what_the_digest_says():
    early = arm("early_kmeans")(BASE)
    assert (early.train.quantize_from, early.train.codebook_init, early.model.ema) == (0, "kmeans", True)
    deferred = arm("deferred")(BASE)
    assert (deferred.train.quantize_from, deferred.train.codebook_init, deferred.model.ema) == (10, "kmeans", True)
    normal, uniform = arm("early_normal")(BASE), arm("early_uniform")(BASE)
    assert (normal.train.codebook_init, normal.model.ema) == ("normal", False)
    assert (uniform.train.codebook_init, uniform.model.ema) == ("uniform", False)
    assert arm("deferred_10")(BASE).train.quantize_from == 3
    assert arm("deferred_normal_init")(BASE).train.codebook_init == "normal"
    assert arm("early_dead_code")(BASE).model.dead_code_threshold == 1.0
    assert arm("early_lowdim")(BASE).model.code_dim == 2
    peer = arm("vqtorch")(BASE)
    assert (peer.model.quantizer, peer.train.codebook_init) == ("vector-quantize-pytorch", "own")
    with pytest.raises(ValueError, match=r"unknown arm 'late'.*early_kmeans"):
        arm("late")
    with pytest.raises(TypeError, match="RunSpec"):
        arm("deferred")({"steps": 3})


# -- claims ------------------------------------------------------------------------------------------------
def test_direction_uses_a_relative_tolerance():
    assert direction(1.06, 1.0) == "higher" and direction(1.04, 1.0) == "equal"
    assert direction(0.5, 1.0) == "lower" and direction(0.0, 0.0) == "equal"
    assert direction(-1.0, -2.0) == "higher"
    assert direction(math.nan, 1.0) == "undefined"


def test_claims_table_verdicts_on_hand_computed_cases():
    table = claims_table([
        Claim("agrees, every seed", "higher", [2.0, 3.0, 4.0], [1.0, 1.0, 1.0]),
        Claim("disagrees, every seed", "higher", [1.0, 1.0], [2.0, 3.0]),
        Claim("one seed the other way", "higher", [3.0, 0.5], [1.0, 1.0]),
        Claim("equal within 5 %", "equal", [1.02, 0.99], [1.0, 1.0]),
        Claim("unpaired, ranges separated", "lower", [1.0, 1.1], [2.0, 2.5, 3.0]),
        Claim("unpaired, ranges overlap", "lower", [1.0, 2.6], [2.0, 2.5, 3.0]),
        Claim("single values", "lower", 3.0, 4.0),
        Claim("one seed inside the band", "higher", [2.0, 1.03], [1.0, 1.0]),
        Claim("negative values: a difference", "higher", [-1.0, 0.5], [-2.0, -1.5]),
    ])
    assert table["verdict"].tolist() == ["agrees", "disagrees", "inconclusive", "agrees", "agrees", "inconclusive",
                                         "agrees", "inconclusive", "agrees"]
    first = table.iloc[0]
    assert (first["n"], first["first"], first["second"], first["effect"], first["effect size"]) == \
        ("3 vs 3", 3.0, 1.0, "ratio", 3.0)
    # fewer than 5 seeds: the range of the per-seed ratios 2/1, 3/1, 4/1
    assert (first["interval"], first["interval kind"]) == ("[2, 4]", "min-max of 3 pairs")
    assert "95 % interval" not in table.columns  # a min-max range is not a 95 % interval
    assert table.iloc[4]["interval kind"] == "min-max of 6 comparisons" and table.iloc[4]["interval"] == "[0.333, 0.55]"
    assert table.iloc[6]["interval kind"] == "point"
    negative = table.iloc[8]
    assert (negative["effect"], negative["effect size"], negative["interval"]) == ("difference", 1.5, "[1, 2]")
    assert set(table["source"]) == {"the paper"}
    implied = claims_table([Claim("not reported", "higher", [2.0], [1.0], stated=False)]).iloc[0]
    assert (implied["expected"], implied["source"]) == ("higher", "implied, not reported by the paper")
    with pytest.raises(ValueError, match="paper direction"):
        Claim("x", "bigger", [1.0], [2.0])
    with pytest.raises(ValueError, match="at least one"):
        Claim("x", "higher", [], [2.0])


def test_five_or_more_seeds_get_a_bootstrap_interval():
    from vqlib.studies.claims import effect_interval

    first, second = [1.2, 1.3, 1.1, 1.25, 1.4], [1.0, 1.0, 1.0, 1.0, 1.05]
    e = effect_interval(first, second)
    assert e["interval"] == "bootstrap 95 % (paired)" and e["effect"] == pytest.approx(1.25 / 1.01)
    # the bootstrap interval lies within the extreme resamples (all pairs equal to one seed's pair)
    assert 1.1 <= e["low"] < e["effect"] < e["high"] <= 1.4
    assert effect_interval(first, second) == e  # a fixed seed: the same interval every time
    unpaired = effect_interval(first, second + [1.0])
    assert unpaired["interval"] == "bootstrap 95 % (unpaired)"
    # a 5 % band: 1.03 to 1.08 straddles 1/0.95 = 1.0526
    row = claims_table([Claim("x", "higher", [1.03, 1.05, 1.08, 1.04, 1.06], [1.0] * 5)]).iloc[0]
    assert row["verdict"] == "inconclusive"


# -- cases and runs ----------------------------------------------------------------------------------------
def test_runs_give_tables_selections_and_grouped_histories():
    cases = [arm_case(BASE, ARMS[a], seed, K=6) for a in ("early_kmeans", "deferred") for seed in (0, 1)]
    runs = run_cases(cases)
    table = runs.table
    assert table[["arm", "arm_label", "K", "seed"]].values.tolist() == [
        ["early_kmeans", "early k-means (baseline)", 6, 0], ["early_kmeans", "early k-means (baseline)", 6, 1],
        ["deferred", "deferred", 6, 0], ["deferred", "deferred", 6, 1]]
    assert {"utilization", "recon_mse", "train_seconds"} <= set(table.columns)
    assert runs.values("utilization", arm="deferred") == table[table.arm == "deferred"]["utilization"].tolist()
    assert runs.one(arm="deferred", seed=1).spec.seed == 1
    curves = runs.histories("arm_label")
    assert list(curves) == ["early k-means (baseline)", "deferred"] and len(curves["deferred"]) == 2
    assert all(isinstance(h, pd.DataFrame) for h in curves["deferred"])
    with pytest.raises(LookupError, match="2 runs match"):
        runs.one(arm="deferred")
    with pytest.raises(KeyError, match="no label 'colour'"):
        runs.histories("colour")
    assert len(run_cases([Case(BASE, {"name": "plain"})])) == 1


# -- shared specs ------------------------------------------------------------------------------------------
def test_notebooks_03_and_04_ask_for_exactly_the_runs_of_notebooks_01_to_03():
    """The cache can only serve a notebook another's runs when the specs are equal field for field."""
    scale = context("default")  # several seeds per arm, as the figures run them (no data is loaded to list specs)
    shrinkage = {c.spec for c in mixture.shrinkage_cases(scale)}
    fixes_mixture = {c.spec for c in fixes.arm_cases(scale) if c.labels["dataset"] == "mixture"
                     and c.labels["arm"] in ("early_kmeans", "deferred")}
    assert shrinkage == fixes_mixture
    nb02 = set(registry.notebook_specs(scale)["02_real_images"])
    nb03 = {c.spec for c in fixes.arm_cases(scale) if c.labels["dataset"] == "CIFAR-10"}
    assert {s for s in nb03 if s.train.eval_every < s.train.steps} <= nb02
    nb02_capacity = {c.spec for c in real_images.capacity_cases(scale)}
    nb03_capacity = {c.spec for c in fixes.capacity_cases(scale) if c.labels["dataset"] == "CIFAR-10"}
    assert nb03_capacity <= nb02_capacity
    tokenizers = set(registry.notebook_specs(scale)["04_generation_diversity"])
    assert tokenizers <= nb03 and len(tokenizers) == len(generation.TOKENIZER_ARMS) * 3


def test_init_scale_cases_scale_the_random_codebook_to_the_data():
    sweep, reference = mixture.init_scale_cases(context("smoke"))
    spread = mixture.spreads(context("smoke"))["data"]
    scales = sorted({c.labels["relative_scale"] for c in sweep})
    assert scales == sorted(mixture.RELATIVE_SCALES)
    for case in sweep:
        assert case.spec.train.codebook_init == "normal"
        assert case.spec.train.init_scale == pytest.approx(case.labels["relative_scale"] * spread)
    assert {c.labels["arm"] for c in reference} == {"early_kmeans", "deferred"}


def test_sweeps_evaluate_only_at_the_start_switch_and_end():
    for case in mixture.codebook_size_cases(context("smoke")) + real_images.capacity_cases(context("smoke")):
        assert case.spec.train.eval_every == case.spec.train.steps
    assert settings.endpoints_only(TrainSpec(steps=70, eval_every=10)) == TrainSpec(steps=70, eval_every=70)
    main = fixes.run_spec("mixture", "deferred", 0, context("smoke"))
    other = fixes.run_spec("mixture", "deferred_10", 0, context("smoke"))
    assert main.train.eval_every < main.train.steps and other.train.eval_every == other.train.steps
    assert dataclasses.replace(other.train, eval_every=main.train.eval_every, quantize_from=0) == \
        dataclasses.replace(main.train, quantize_from=0)


def test_mode_entropy_is_log_of_the_modes_the_codes_cover():
    from vqlib.studies.views import mode_entropy

    assert mode_entropy([4, 4, 4, 4]) == pytest.approx(math.log(4))
    assert mode_entropy([8, 8, 0, 0]) == pytest.approx(math.log(2))  # codes in 2 of 4 modes: capped at log 2
    assert mode_entropy([16, 0, 0, 0]) == 0.0
    assert mode_entropy([3, 1]) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_notebook_05_trains_vector_quantize_pytorch_three_ways_and_reuses_the_cifar_tokenizers():
    from vqlib import cache
    from vqlib.studies import diagnosis

    cases = {c.labels["run"]: c.spec for c in diagnosis.peer_cases(context("default"))}
    for spec in cases.values():
        assert spec.model.quantizer == "vector-quantize-pytorch" and spec.model.dead_code_threshold == 0
    assert (cases["random"].model.peer_kmeans_init, cases["kmeans"].model.peer_kmeans_init) == (False, True)
    assert cases["random"].train.quantize_from == cases["kmeans"].train.quantize_from == 0
    assert cases["deferred"].train.quantize_from > 0 and cases["deferred"].train.codebook_init == "kmeans"
    # the new switch leaves every earlier spec's cache key alone
    assert "peer_kmeans_init" not in cache.spec_payload(ModelSpec()) and "peer_kmeans_init" in cache.spec_payload(
        cases["random"].model)
    nb03 = {c.spec for c in fixes.arm_cases(context("default"))}
    assert set(diagnosis.tokenizer_specs(context("default")).values()) <= nb03


def test_a_fact_named_like_a_dict_method_is_refused():
    from vqlib.studies import prose

    with pytest.raises(ValueError, match="'values'"):
        prose.facts(dims={"values": [2, 8]})  # {dims.values} would render dict.values, not the list
    assert prose.render("{dims.swept}", prose.facts(dims={"swept": [2, 8]})) == "2 and 8"


def test_the_summary_counts_a_measurement_once_whichever_notebooks_ask_for_it():
    from vqlib.studies.summary import distinct_claims

    same = Claim("CIFAR-10: utilization, deferred vs baseline", "higher", [1.0, 0.9], [0.4, 0.5])
    again = Claim("CIFAR-10: utilization, deferred vs baseline (notebook 03)", "higher", [1.0, 0.9], [0.4, 0.5])
    other = Claim("mixture: utilization", "higher", [1.0, 0.9], [0.5, 0.4])  # the same values, paired otherwise
    kept = distinct_claims([("02", [same]), ("03", [again, other])])
    assert [[c.text for c in claims] for _, claims in kept] == [[same.text], [other.text]]


def test_a_verdict_that_one_seed_changes_is_marked_within_noise():
    from vqlib.studies.claims import Claim, claims_table

    table = claims_table([
        Claim("clear", "higher", [2.0, 2.1, 2.2, 2.0, 2.3], [1.0, 1.1, 1.0, 1.2, 1.0]),  # 5 seeds: bootstrap
        # min-max of the ratios [1.06, 1.2, 1.0] straddles the band's edge (1/0.95): inconclusive; without the third
        # seed it lies beyond it ([1.06, 1.2]): agrees - one seed decides
        Claim("fragile", "higher", [1.06, 1.2, 1.0], [1.0, 1.0, 1.0]),
        Claim("two seeds", "higher", [2.0, 2.1], [1.0, 1.0]),
        Claim("unpaired", "higher", [3.0, 3.1, 2.9, 3.0], [1.0, 1.1, 0.9]),
    ]).set_index("claim")
    assert table.loc["fragile", "verdict"] == "inconclusive"
    assert table["one seed out"].to_dict() == {"clear": "same", "fragile": "changes", "two seeds": "n/a",
                                              "unpaired": "same"}
