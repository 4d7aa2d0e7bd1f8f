"""Sweeps through executors: the sequential path, a local process pool and submitit's local executor must
give the same cached results, to the last digit (every computation runs with the same thread count)."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Executor, Future

import pandas as pd
import pytest
import torch

from vqlib import cache, executors
from vqlib.data import prepare
from vqlib.experiments import run, run_many, run_payload
from vqlib.studies import context, mixture


def _specs():
    # 4 smoke-scale specs: both arms at two codebook sizes, one seed
    cases = [c for c in mixture.codebook_size_cases(context("smoke")) if c.labels["K"] in (5, 10)]
    assert len(cases) == 4
    return [c.spec for c in cases]


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x.history.drop(columns="wall_time"), y.history.drop(columns="wall_time"),
                                      check_exact=True)
        assert all(torch.equal(x.state_dict[k], y.state_dict[k]) for k in x.state_dict)


@pytest.fixture
def sequential(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path_factory.mktemp("sequential")))
    monkeypatch.setenv("VQLIB_WORKERS", "1")
    results = run_many(_specs())
    monkeypatch.delenv("VQLIB_WORKERS")
    return results


def test_a_local_pool_gives_the_sequential_results(sequential, tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path))
    with executors.local_pool(2) as pool:
        pooled = run_many(_specs(), executor=pool)
    _same(pooled, sequential)
    # the workers wrote the cache: loading again computes nothing
    assert all(run(spec).cached for spec in _specs())


def test_submitit_local_executor_gives_the_sequential_results(sequential, tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path / "cache"))
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs")
    executor.update_parameters(timeout_min=10)
    _same(run_many(_specs(), executor=executor), sequential)


def test_a_worker_without_the_callers_cache_is_an_error(tmp_path, monkeypatch):
    """Results meet in the cache: a worker writing elsewhere is reported, not silently recomputed."""
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path / "mine"))

    class Elsewhere(Executor):
        def submit(self, fn, *args):
            os.environ["VQLIB_CACHE"] = str(tmp_path / "theirs")
            try:
                future = Future()
                future.set_result(fn(*args))
                return future
            finally:
                os.environ["VQLIB_CACHE"] = str(tmp_path / "mine")

    with pytest.raises(RuntimeError, match="point VQLIB_CACHE at a folder every worker"):
        run_many(_specs()[:2], executor=Elsewhere())


def test_a_failing_run_names_its_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path))
    bad = [dataclasses.replace(s, train=dataclasses.replace(s.train, lr=1e9)) for s in _specs()[:2]]
    with executors.local_pool(2) as pool, pytest.raises(RuntimeError, match="K=5 seed=0 failed.*NonFiniteLoss"):
        run_many(bad, executor=pool)  # the loss explodes in the worker
    # nothing partial was left in the cache
    assert not any(cache.has("run", run_payload(s, prepare(s.data).identity)) for s in bad)


@pytest.mark.parametrize("name", ["VQLIB_WORKERS", "VQLIB_RUN_THREADS"])
@pytest.mark.parametrize("bad", ["0", "x"])
def test_bad_worker_and_thread_settings_are_refused(monkeypatch, name, bad):
    monkeypatch.setenv(name, bad)
    with pytest.raises(ValueError, match=name):
        executors.default_workers() if name == "VQLIB_WORKERS" else executors.compute_threads()


def test_computing_sets_and_restores_the_thread_count(monkeypatch):
    monkeypatch.setenv("VQLIB_RUN_THREADS", "1")
    before = torch.get_num_threads()
    with executors.computing():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_every_run_lists_each_notebook_spec_once(capsys):
    from vqlib.studies import every_run, fixes

    specs = every_run.every_spec(context("smoke"))
    assert len(specs) == len(set(specs))
    for case in [*mixture.usage_cases(context("smoke")), *mixture.phase_cases(context("smoke")),
                 *fixes.arm_cases(context("smoke"))]:
        assert case.spec in specs
    assert every_run.main(["--scale", "smoke", "--list"]) == 0
    assert f"{len(specs)} runs at scale smoke" in capsys.readouterr().err
