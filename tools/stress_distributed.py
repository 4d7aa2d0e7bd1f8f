"""Launch the same small 2-process run many times in a row and count the launches that fail.

    python tools/stress_distributed.py [--launches 50] [--processes 2]        # make stress-distributed

Each launch is a fresh Python process that calls ``vqlib.experiments.run(spec, processes=2, force=True)`` on a
mixture (300 steps, batch 128, gloo on the CPU), exactly as a user would; a launch fails when that call
raises or the process dies. A failure at shutdown is intermittent (issue 26: a rank aborted with "terminate
called without an active exception" about once in ten launches), so one passing launch proves nothing: this
check is not part of ``make test``, it is what a change to the process-group life cycle is measured with.
Writes its cache into a temporary folder; prints each failure's last lines and a summary, and exits 1 when
any launch failed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_LAUNCH = """
from vqlib.data import MixtureSpec
from vqlib.experiments import ModelSpec, RunSpec, run
from vqlib.train import TrainSpec

spec = RunSpec(MixtureSpec(num_components=16, points_per_component=256, dim=8),
               ModelSpec(num_codes=16, latent_dim=8, dead_code_threshold=1.0),
               TrainSpec(steps=300, batch_size=128, quantize_from=100, eval_every=100), seed=2)
result = run(spec, processes={processes}, force=True, progress=False)
assert not result.cached and len(result.history) > 0
"""


def _allow_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one launch may take")
    parser.add_argument("--cores", type=Path, default=None,
                        help="keep each failed launch's core dumps in this folder (for gdb: `gdb python core.PID`)")
    args = parser.parse_args(argv)
    if args.launches < 1 or args.processes < 2:
        parser.error("--launches must be >= 1 and --processes >= 2")
    failures: list[tuple[int, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vqlib-stress-") as folder:
        env = dict(os.environ, VQLIB_CACHE=folder, VQLIB_DEVICE="cpu", VQLIB_PROGRESS="0",
                   VQLIB_DIST_TIMEOUT="120", VQLIB_TORCHRUN_TIMEOUT=str(args.timeout),
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        for i in range(1, args.launches + 1):
            t0 = time.perf_counter()
            where = Path(folder) / f"launch-{i}"
            where.mkdir()
            try:
                done = subprocess.run([sys.executable, "-c", ONE_LAUNCH.format(processes=args.processes)], env=env,
                                      capture_output=True, text=True, timeout=args.timeout + 60, cwd=where,
                                      preexec_fn=_allow_core_dumps if args.cores else None)
                ok, output = done.returncode == 0, done.stdout + done.stderr
            except subprocess.TimeoutExpired as error:
                ok, output = False, f"timed out after {error.timeout} s"
            took = time.perf_counter() - t0
            if not ok:
                failures.append((i, output))
                if args.cores:
                    args.cores.mkdir(parents=True, exist_ok=True)
                    for core in where.glob("core*"):
                        shutil.move(str(core), args.cores / f"launch-{i}-{core.name}")
                tail = "\n    ".join(output.strip().splitlines()[-12:])
                print(f"launch {i}: FAILED after {took:.1f} s\n    {tail}", flush=True)
            else:
                print(f"launch {i}: ok ({took:.1f} s)", flush=True)
    total = time.perf_counter() - started
    print(f"{args.launches - len(failures)} of {args.launches} launches passed, {len(failures)} failed "
          f"({total:.0f} s in all)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
