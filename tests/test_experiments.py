import os

import pandas as pd
import pytest
import torch

from vqlib import experiments
from vqlib.data import MixtureSpec
from vqlib.experiments import ModelSpec, RunSpec, run
from vqlib.scales import SCALES, get_scale
from vqlib.train import TrainSpec

SPEC = RunSpec(MixtureSpec(num_components=3, points_per_component=40, dim=2),
               ModelSpec(num_codes=6, latent_dim=2, depth=1, width=16),
               TrainSpec(steps=20, batch_size=32, eval_every=10), seed=0)


def _entries(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache").glob("*"))


def test_cache_miss_then_hit_returns_the_same_result(tmp_path):
    first = run(SPEC)
    assert not first.cached and len(_entries(tmp_path)) == 1
    second = run(SPEC)
    assert second.cached
    pd.testing.assert_frame_equal(first.history, second.history)
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)
    assert second.wall_time == first.wall_time
    # the stored weights rebuild the trained model
    model = second.model()
    x = torch.randn(4, 2)
    assert model.quantizer.active
    assert torch.equal(model(x).indices, first.model()(x).indices)


def test_a_different_spec_is_a_miss(tmp_path):
    run(SPEC)
    other = run(RunSpec(SPEC.data, SPEC.model, SPEC.train, seed=1))
    assert not other.cached and len(_entries(tmp_path)) == 2


def test_force_recomputes(tmp_path, monkeypatch):
    run(SPEC)
    assert not run(SPEC, force=True).cached
    monkeypatch.setenv("VQLIB_FORCE", "1")
    assert not run(SPEC).cached


def test_key_depends_on_library_version_and_data_source(monkeypatch):
    key = experiments.run_key(SPEC, "src")
    assert experiments.run_key(SPEC, "other src") != key
    monkeypatch.setattr(experiments, "__version__", "999")
    assert experiments.run_key(SPEC, "src") != key


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    def explode(obj, f, *a, **kw):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments.torch, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        run(SPEC)
    assert _entries(tmp_path) == []  # neither the entry nor a stray temporary file
    monkeypatch.undo()
    os.environ["VQLIB_CACHE"] = str(tmp_path / "cache")
    assert not run(SPEC).cached


def test_same_seed_same_numbers_without_cache():
    a = run(SPEC, cache=False)
    b = run(SPEC, cache=False)
    pd.testing.assert_frame_equal(a.history.drop(columns="wall_time"), b.history.drop(columns="wall_time"))


def test_run_rejects_non_specs_and_model_data_mismatch():
    with pytest.raises(TypeError, match="RunSpec"):
        run({"steps": 3})
    from vqlib.data import ImageSpec
    with pytest.raises(ValueError, match="mlp"):
        experiments.build_model(ModelSpec(kind="mlp"), ImageSpec())
    with pytest.raises(ValueError, match="conv"):
        experiments.build_model(ModelSpec(kind="conv"), MixtureSpec())
    with pytest.raises(ValueError, match="image dataset 'mnist'"):
        ImageSpec(name="mnist")


def test_scales(monkeypatch):
    assert get_scale("smoke").name == "smoke"
    monkeypatch.setenv("VQLIB_SCALE", "paper")
    assert get_scale().name == "paper"
    monkeypatch.delenv("VQLIB_SCALE")
    assert get_scale().name == "default"
    with pytest.raises(ValueError, match=r"unknown scale 'huge'.*smoke.*default.*paper"):
        get_scale("huge")
    # the smoke scale is strictly smaller than the default one
    assert SCALES["smoke"].mixture_steps < SCALES["default"].mixture_steps < SCALES["paper"].mixture_steps


def test_spec_dict_leaves_out_defaults_so_new_fields_keep_old_keys():
    d = SPEC.to_dict()
    assert d["train"] == {"steps": 20, "batch_size": 32, "eval_every": 10}
    assert "quantizer" not in d["model"] and "ema" not in d["model"]
    assert d["data_kind"] == "MixtureSpec"


def test_arms_change_only_timing_initializer_and_codebook_updates():
    base = SPEC
    early = experiments.with_arm(base, "early k-means (baseline)")
    deferred = experiments.with_arm(base, "deferred", defer_fraction=0.25)
    normal = experiments.with_arm(base, "early normal", init_scale=0.5)
    assert (early.train.quantize_from, early.train.codebook_init, early.model.ema) == (0, "kmeans", True)
    assert (deferred.train.quantize_from, deferred.train.codebook_init, deferred.model.ema) == (5, "kmeans", True)
    assert (normal.train.codebook_init, normal.train.init_scale, normal.model.ema) == ("normal", 0.5, False)
    assert early.train.steps == deferred.train.steps == normal.train.steps
    with pytest.raises(ValueError, match="unknown arm"):
        experiments.with_arm(base, "late")
    with pytest.raises(ValueError, match="defer_fraction"):
        experiments.with_arm(base, "deferred", defer_fraction=1.0)


def test_vector_quantize_pytorch_arm_trains_through_the_same_loop():
    import dataclasses

    spec = RunSpec(SPEC.data, dataclasses.replace(SPEC.model, quantizer="vector-quantize-pytorch"),
                   dataclasses.replace(SPEC.train, codebook_init="own"), seed=0)
    result = run(spec, cache=False)
    assert result.history.quantized.all()
    assert 0 < result.final["utilization"] <= 1
    model = result.model()
    assert model.quantizer.layer._codebook.initted.item()  # its own k-means ran on the first batch
    with pytest.raises(ValueError, match="quantizer"):
        ModelSpec(quantizer="faiss")
    with pytest.raises(ValueError, match="vqlib"):
        ModelSpec(quantizer="vector-quantize-pytorch", cosine=True)
