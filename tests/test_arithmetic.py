"""The instruction-set pins (vqlib.arithmetic): set at import, inherited by every process that trains, recorded
in every cache entry, and reported when a process computes without them.

The processes below start with the pins *removed* from their environment, so each must pin itself by importing
vqlib before torch computes; on a CPU whose widest kernels are AVX2 there is nothing to pin away from, and the
tests that need a wider CPU say so and skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import torch

from vqlib import arithmetic, cache
from vqlib.data import prepare
from vqlib.experiments import run_many, run_payload
from vqlib.studies import context, mixture

ROOT = Path(__file__).resolve().parent.parent
X86 = pytest.mark.skipif(not arithmetic.pinnable(), reason="the pins apply on x86-64 only")


def _unpinned_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in arithmetic.PINS and k != arithmetic.NATIVE_SWITCH}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _python(code: str, **env) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_unpinned_env(**env), capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


PROBE = """
    import json, warnings
    {first}
    import torch
    torch.ones(8).sum()  # torch chooses its kernels at the first computation
    from vqlib import arithmetic
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arithmetic.check()
    print(json.dumps({{"torch": arithmetic.capability(), "openblas": arithmetic.openblas_cores(),
                       "warnings": [str(w.message) for w in caught]}}))
"""


@pytest.fixture(scope="module")
def native() -> dict:
    """What this CPU computes with when nothing is pinned."""
    return _python(PROBE.format(first="import vqlib"), **{arithmetic.NATIVE_SWITCH: "1"})


@pytest.fixture
def wider_cpu(native):
    if not arithmetic.pinnable() or native["torch"] in ("AVX2", "DEFAULT"):
        pytest.skip(f"this CPU's widest torch kernels are {native['torch']}: nothing wider to pin away from")


def test_pin_sets_every_pin_but_keeps_the_users_own_and_the_native_switch(monkeypatch):
    arithmetic.capability()  # torch chooses its kernels now, under this process's pins, not the ones removed below
    for name in arithmetic.PINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.delenv(arithmetic.NATIVE_SWITCH, raising=False)
    arithmetic.pin()
    expected = dict(arithmetic.PINS, MKL_CBWR="COMPATIBLE") if arithmetic.pinnable() else {"MKL_CBWR": "COMPATIBLE"}
    assert {k: os.environ.get(k) for k in arithmetic.PINS if os.environ.get(k)} == expected
    for name in arithmetic.PINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(arithmetic.NATIVE_SWITCH, "1")
    arithmetic.pin()
    assert not any(os.environ.get(k) for k in arithmetic.PINS)
    assert not arithmetic.pinned_requested() and arithmetic.unpinned() == []  # nothing asked for, nothing missing


def test_the_makefile_exports_exactly_the_pins():
    exported = dict(re.findall(r"^export (\w+) \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M))
    assert {k: v for k, v in exported.items() if k in arithmetic.PINS or k.startswith(("ATEN", "ONEDNN", "MKL",
                                                                                     "OPENBLAS"))} == arithmetic.PINS


@X86
def test_importing_vqlib_first_pins_torch_and_openblas():
    found = _python(PROBE.format(first="import vqlib"))
    assert found["torch"] in ("AVX2", "DEFAULT") and found["warnings"] == []
    assert all(core == arithmetic.PINS["OPENBLAS_CORETYPE"] for core in found["openblas"])


@X86
def test_a_process_that_chose_its_kernels_before_vqlib_is_reported(wider_cpu):
    found = _python(PROBE.format(first="import numpy"))  # numpy (and torch) first: their kernels are chosen
    assert found["torch"] == wider_cpu or found["torch"] != "AVX2"
    assert len(found["warnings"]) == 1 and "not AVX2" in found["warnings"][0], found


def _entry_cpu(spec) -> str:
    path = cache.entry_path("run", run_payload(spec, prepare(spec.data).identity))
    return torch.load(path, weights_only=False)["versions"]["cpu"]


@X86
@pytest.mark.parametrize("where", ["spawned pool worker", "submitit job"])
def test_a_run_computed_in_a_fresh_worker_records_the_pinned_capability(where, wider_cpu, tmp_path, monkeypatch):
    # the caller's environment has no pins: the worker must pin itself when it imports vqlib to unpickle the run
    for name in arithmetic.PINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    spec = mixture.codebook_size_cases(context("smoke"))[0].spec
    if where == "submitit job":
        submitit = pytest.importorskip("submitit")
        executor = submitit.LocalExecutor(folder=tmp_path / "jobs")
        executor.update_parameters(timeout_min=10)
    else:
        executor = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    try:
        run_many([spec], executor=executor)
    finally:
        if hasattr(executor, "shutdown"):
            executor.shutdown()
    assert _entry_cpu(spec) == arithmetic.PINNED_CAPABILITY
