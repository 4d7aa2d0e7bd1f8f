import dataclasses

import pandas as pd
import pytest
import torch

from vqlib import cache, experiments
from vqlib.data import ImageSpec, MixtureSpec
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
    assert not first.cached and _entries(tmp_path) == [f"run-{first.key}.pt"]
    second = run(SPEC)
    assert second.cached and second.key == first.key
    pd.testing.assert_frame_equal(first.history, second.history)
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)
    assert second.wall_time == first.wall_time
    # the stored weights rebuild the trained model
    model = second.model()
    x = torch.randn(4, 2)
    assert model.quantizer.active
    assert torch.equal(model(x).indices, first.model()(x).indices)


def test_a_different_spec_or_seed_is_a_miss(tmp_path):
    run(SPEC)
    assert not run(dataclasses.replace(SPEC, seed=1)).cached
    # a field at its default value still counts: every field is in the key
    changed = dataclasses.replace(SPEC, model=dataclasses.replace(SPEC.model, decay=0.98))
    assert not run(changed).cached
    assert len(_entries(tmp_path)) == 3


def test_force_recomputes(monkeypatch):
    run(SPEC)
    assert not run(SPEC, force=True).cached
    monkeypatch.setenv("VQLIB_FORCE", "1")
    assert not run(SPEC).cached


def test_cache_false_neither_reads_nor_writes(tmp_path):
    run(SPEC)
    assert not run(SPEC, cache=False).cached
    assert len(_entries(tmp_path)) == 1


def test_interrupted_write_leaves_no_entry_and_the_next_run_recomputes(tmp_path, monkeypatch):
    def explode(obj, f, *a, **kw):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(cache.torch, "save", explode)
        with pytest.raises(KeyboardInterrupt):
            run(SPEC)
    assert _entries(tmp_path) == []  # neither the entry nor a stray temporary file
    assert not run(SPEC).cached
    assert run(SPEC).cached


def test_same_seed_same_numbers_without_cache():
    a = run(SPEC, cache=False)
    b = run(SPEC, cache=False)
    pd.testing.assert_frame_equal(a.history.drop(columns="wall_time"), b.history.drop(columns="wall_time"))


def test_training_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    run(SPEC, cache=False)
    experiments.initial_model(SPEC)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_run_rejects_non_specs_and_model_data_mismatch():
    with pytest.raises(TypeError, match="RunSpec"):
        run({"steps": 3})
    with pytest.raises(TypeError, match="MixtureSpec or an ImageSpec"):
        RunSpec(data={"dim": 2})
    with pytest.raises(ValueError, match="mlp"):
        experiments.build_model(ModelSpec(kind="mlp"), ImageSpec())
    with pytest.raises(ValueError, match="conv"):
        experiments.build_model(ModelSpec(kind="conv"), MixtureSpec())
    with pytest.raises(ValueError, match="image dataset 'mnist'"):
        ImageSpec(name="mnist")
    with pytest.raises(ValueError, match="eval_images"):
        ImageSpec(eval_images=0)


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


def test_vector_quantize_pytorch_quantizer_trains_through_the_same_loop():
    spec = RunSpec(SPEC.data, dataclasses.replace(SPEC.model, quantizer="vector-quantize-pytorch"),
                   dataclasses.replace(SPEC.train, codebook_init="own"), seed=0)
    result = run(spec, cache=False)
    assert result.history.quantized.all()
    assert 0 < result.final["utilization"] <= 1
    model = result.model()
    assert model.quantizer.layer._codebook.initted.item()  # its own k-means ran on the first batch
    # deterministic although the package draws from torch's global generator (seeded in a fork)
    again = run(spec, cache=False)
    pd.testing.assert_frame_equal(result.history.drop(columns="wall_time"), again.history.drop(columns="wall_time"))
    with pytest.raises(ValueError, match="quantizer"):
        ModelSpec(quantizer="faiss")
    with pytest.raises(ValueError, match="vqlib"):
        ModelSpec(quantizer="vector-quantize-pytorch", cosine=True)


# A run long enough to be killed mid-way, with a switch and dead-code replacement in it.
KILL_SCRIPT = """
import sys
import torch
from vqlib.data import MixtureSpec
from vqlib.experiments import ModelSpec, RunSpec, run
from vqlib.train import TrainSpec

torch.set_num_threads(1)
spec = RunSpec(MixtureSpec(num_components=8, points_per_component=200, dim=4),
               ModelSpec(num_codes=32, latent_dim=4, depth=1, width=32, dead_code_threshold=0.2),
               TrainSpec(steps=1500, batch_size=64, quantize_from=100, eval_every=100), seed=1)
result = run(spec, cache=sys.argv[1] == "cache")
result.history.drop(columns="wall_time").to_pickle(sys.argv[2])
"""


def test_a_killed_run_resumes_to_the_same_history(tmp_path, monkeypatch):
    """SIGKILL a training subprocess once it has checkpointed; running it again resumes from the checkpoint and
    ends with the history of a run never interrupted, to the last digit (same machine, one thread)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "kill_me.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "VQLIB_CHECKPOINT_EVERY": "0"}
    checkpoints = tmp_path / "cache" / "checkpoints"

    victim = subprocess.Popen([sys.executable, str(script), "cache", str(tmp_path / "killed.pkl")], env=env,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("*.ckpt")) and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # some steps further in
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert list(checkpoints.glob("*.ckpt")) and not list((tmp_path / "cache").glob("run-*.pt"))

    resumed = subprocess.run([sys.executable, str(script), "cache", str(tmp_path / "resumed.pkl")], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    step = int(resumed.stderr.split("at step ")[1].split()[0])
    assert 0 < step < 1500
    assert not list(checkpoints.glob("*.ckpt"))  # finished: its checkpoint is deleted
    whole = subprocess.run([sys.executable, str(script), "nocache", str(tmp_path / "whole.pkl")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "resumed.pkl"), pd.read_pickle(tmp_path / "whole.pkl"),
                                  check_exact=True)


def test_a_nonfinite_run_writes_no_cache_entry(tmp_path, monkeypatch):
    from vqlib import train as train_module

    real_batch = train_module.Prepared.train_batch
    calls = []

    def poisoned(self, index, generator, device):  # the 7th batch (step 6) is infinite
        calls.append(1)
        batch = real_batch(self, index, generator, device)
        return batch * float("inf") if len(calls) == 7 else batch

    monkeypatch.setattr(train_module.Prepared, "train_batch", poisoned)
    with pytest.raises(FloatingPointError, match="step 6"):
        run(SPEC)
    assert _entries(tmp_path) == []


def test_encoder_gain_scales_the_untrained_encoders_outputs_exactly_and_is_checked():
    import math

    from vqlib.experiments import initial_model

    spec = RunSpec(MixtureSpec(dim=8), ModelSpec(num_codes=40, latent_dim=8))
    x = torch.randn(6, 8)
    plain = initial_model(spec).encode(x)
    louder = initial_model(dataclasses.replace(spec, model=dataclasses.replace(spec.model, encoder_gain=10.0)))
    assert torch.allclose(louder.encode(x), 10 * plain, atol=1e-5)
    assert "encoder_gain" not in cache.spec_payload(spec)["model"]  # every earlier cache key is unchanged
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="encoder_gain"):
            ModelSpec(encoder_gain=bad)
