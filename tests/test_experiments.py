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
