"""Data-parallel training on two CPU processes (gloo), launched by torchrun exactly as a user would.

A run that includes the quantization switch (k-means on every rank's embeddings) and dead-code replacement
must end with bitwise-identical replicas (the run checks it itself and fails otherwise: the EMA statistics
not summed over ranks made it fail, see the closing note of issue 11) and must match the same run on one
process with the same global batch. A hang fails the test after VQLIB_TORCHRUN_TIMEOUT instead of stalling CI.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqlib import arithmetic, cache, distributed, experiments
from vqlib.data import MixtureSpec, prepare
from vqlib.experiments import ModelSpec, RunSpec, process_count, run, run_payload
from vqlib.train import TrainSpec

# a switch at step 10 (k-means), dead codes replaced from step ~25 on (threshold 1 of 2 rows per code per step)
SPEC = RunSpec(MixtureSpec(num_components=4, points_per_component=64, dim=4),
               ModelSpec(num_codes=16, latent_dim=4, dead_code_threshold=1.0),
               TrainSpec(steps=40, batch_size=32, quantize_from=10, eval_every=20, init_samples=128,
                         eval_batch_size=24), seed=0)  # 11 evaluation batches: 6 on rank 0, 5 on rank 1


@pytest.fixture
def torchrun_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VQLIB_TORCHRUN_TIMEOUT", "180")
    monkeypatch.setenv("VQLIB_DIST_TIMEOUT", "60")
    monkeypatch.setenv("VQLIB_DEVICE", "cpu")
    for name in arithmetic.PINS:  # the ranks must pin the instruction set themselves, importing vqlib
        monkeypatch.delenv(name, raising=False)
    # the workers import this checkout's vqlib, wherever pytest runs from
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return tmp_path


def test_two_processes_keep_replicas_identical_and_match_one_process(torchrun_env, monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        two = run(SPEC, processes=2)  # torchrun; every rank checks the others' digests and fails on a difference
    # every rank left the process group with none of its threads running (else a rank exits with status 3, and
    # run() warns that a rank failed after the result was stored)
    assert not [w for w in caught if "failed afterwards" in str(w.message)], [str(w.message) for w in caught]
    assert not two.cached
    assert int(two.state_dict["quantizer.replaced_codes"]) > 0, "the run must exercise dead-code replacement"
    assert bool(two.history["quantized"].iloc[-1]) and 10 in set(two.history["step"])  # the switch happened
    entry = torch.load(cache.entry_path("run", run_payload(SPEC, prepare(SPEC.data).identity)), weights_only=False)
    assert entry["versions"]["cpu"] == arithmetic.capability()  # the ranks computed with this process's kernels
    monkeypatch.setenv("VQLIB_CACHE", str(torchrun_env / "one-process"))
    one = run(SPEC, processes=1)
    # the same global batch, shards or not: the same numbers up to the order of float sums
    metrics = ["loss", "recon_mse", "perplexity", "utilization", "code_euclidean_distance", "coverage",
               "reconstruction_coverage", "embedding_effective_rank", "embedding_euclidean_distance",
               "embedding_cosine_distance", "embedding_std", "shrinkage_euclidean"]
    for metric in metrics:
        a, b = two.history[metric].to_numpy(), one.history[metric].to_numpy()
        assert all((math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-7)
                   for x, y in zip(a, b)), (metric, a, b)
    assert torch.allclose(two.state_dict["quantizer.codebook"], one.state_dict["quantizer.codebook"], atol=1e-5)
    assert run(SPEC, processes=2).cached  # the spec's entry serves any process count: no relaunch


def test_a_batch_that_does_not_divide_among_the_processes_is_refused_before_any_process_starts(torchrun_env,
                                                                                                 monkeypatch):
    def launch(*args):
        raise AssertionError("torchrun was launched for a batch that cannot be sharded")

    monkeypatch.setattr(experiments, "_launch_torchrun", launch)
    monkeypatch.setattr(experiments.subprocess, "run", launch)
    odd = RunSpec(SPEC.data, SPEC.model, TrainSpec(steps=4, batch_size=33, eval_every=4), seed=0)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"global batch \(batch_size=33\) must divide evenly among the 2 processes"
                       ) as error:
        run(odd, processes=2)
    assert time.perf_counter() - start < 1.0
    assert "Fix: a batch_size that is a multiple of 2" in str(error.value) and "VQLIB_PROCESSES" in str(error.value)
    # the trainer's own check (under torchrun) is the same check, with the same message
    with pytest.raises(ValueError, match=r"global batch \(batch_size=33\) must divide evenly among the 2"):
        odd.train.check_processes(2, prepare(odd.data).num_train)
    few = TrainSpec(steps=4, batch_size=512, eval_every=4)  # more than the 256 points: the batch is all of them
    few.check_processes(2, 256)
    with pytest.raises(ValueError, match="batch_size=512, capped at the 255 training examples"):
        few.check_processes(2, 255)


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_process_count_rejects_bad_values(monkeypatch, bad):
    monkeypatch.setenv("VQLIB_PROCESSES", bad)
    with pytest.raises(ValueError, match="VQLIB_PROCESSES"):
        process_count()


def test_one_process_helpers_are_identities():
    rows = torch.arange(6.0).view(3, 2)
    assert not distributed.is_distributed() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.gather_rows(rows) is rows
    assert torch.equal(distributed.all_reduce_sum(rows.clone()), rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _replica_worker(rank: int, port: int, same: bool, gather_out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        layer = torch.nn.Linear(2, 2)
        torch.nn.init.constant_(layer.weight, 1.0 if same or rank == 0 else 2.0)
        torch.nn.init.zeros_(layer.bias)
        rows = distributed.gather_rows(torch.full((rank + 1, 2), float(rank)))  # uneven shards
        if rank == 0:
            torch.save(rows, gather_out)
        distributed.check_replicas(layer)
    finally:
        dist.destroy_process_group()


def _join(context, limit: float = 120.0) -> None:
    """Join every process (ProcessContext.join returns after each one), failing after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not context.join(timeout=max(1.0, deadline - time.monotonic())):
        if time.monotonic() > deadline:
            raise AssertionError(f"the processes did not finish within {limit} s")


@pytest.mark.parametrize("same", [True, False])
def test_replica_check_and_uneven_gather_on_two_processes(tmp_path, same):
    out = str(tmp_path / "rows.pt")
    context = mp.start_processes(_replica_worker, args=(_free_port(), same, out), nprocs=2, join=False,
                                 start_method="spawn")
    try:
        if same:
            _join(context)
            rows = torch.load(out)
            assert torch.equal(rows, torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]))
        else:
            with pytest.raises(mp.ProcessRaisedException, match="drifted apart"):
                _join(context)
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()


def _one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="thread names are read from Linux's /proc")
def test_a_group_joined_after_torch_dynamo_was_imported_ends_its_threads_when_left():
    """The cause of issue 26, both ways, in fresh processes: imported after the group exists (here by the first
    optimizer), torch._dynamo keeps the group alive past destroy_process_group and its gloo threads run on into
    the interpreter's shutdown; distributed.join() imports it first, and leave() then ends every thread."""
    script = textwrap.dedent("""
        import json, os, sys, torch, torch.distributed as dist
        from vqlib import distributed
        if sys.argv[1] == "join":
            distributed.join(torch.device("cpu"))
        else:
            dist.init_process_group("gloo")
        model = torch.nn.Linear(4, 2)
        net = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.Adam(net.parameters(), fused=True)
        net(torch.ones(3, 4)).sum().backward()
        optimizer.step()
        del net, optimizer
        print("LEFT " + json.dumps(distributed.leave()), flush=True)
    """)
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="1", RANK="0",
               LOCAL_RANK="0")
    found = {}
    for how in ("join", "plain"):
        done = subprocess.run([sys.executable, "-c", script, how], env=env, capture_output=True, text=True,
                              timeout=120)
        line = [x for x in done.stdout.splitlines() if x.startswith("LEFT ")]
        assert line, done.stderr[-2000:]
        found[how] = json.loads(line[0][5:])
    assert found["join"] == []
    assert found["plain"], "torch no longer keeps the group alive: the early import in join() could go"



def test_a_rank_that_fails_after_the_result_is_stored_is_a_warning_not_a_failed_run(torchrun_env, monkeypatch):
    """A rank's failure at exit, after rank 0 stored the result, does not throw the finished training away."""
    def launch_that_stores_then_fails(command, check, timeout):
        cache.save("run", run_payload(SPEC, prepare(SPEC.data).identity),
                   experiments._train_entry(SPEC, prepare(SPEC.data), "k", torch.device("cpu"), False, None))
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(experiments.subprocess, "run", launch_that_stores_then_fails)
    with pytest.warns(RuntimeWarning, match="finished and its result is in the run cache"):
        result = run(SPEC, processes=2)
    assert len(result.history) > 0

    monkeypatch.setattr(experiments.subprocess, "run", lambda command, check, timeout:
                        subprocess.CompletedProcess(command, 1))
    with pytest.raises(RuntimeError, match="nothing was stored"):
        run(SPEC, processes=2, force=True)
