"""Every training run of every notebook at a scale, computed up front through an executor.

    python -m vqlib.studies.every_run --scale paper --executor local      # one worker per GPU or core
    python -m vqlib.studies.every_run --scale paper --executor slurm --partition gpu --timeout-min 600
    make runs SCALE=paper EXECUTOR=slurm SLURM_ARGS="--partition gpu"

The notebooks then find every run in the cache and only draw (``make figures``). The token priors and
samples of notebook 04 are not included: they need the feature classifier and are computed by the notebook
(on a local pool). With ``slurm`` every run is one SLURM job (submitit); the jobs write the cache, so
``VQLIB_CACHE`` must be a folder every node reads and writes (a shared filesystem), and the nodes need this
environment (the same Python, vqlib and data roots).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import cache as store
from .. import executors, paths
from ..data import prepare
from ..experiments import RunSpec, run_many, run_payload
from ..scales import SCALES
from .context import Context, context
from .registry import notebook_specs

__all__ = ["every_spec", "estimate_seconds", "main"]


def every_spec(ctx: Context) -> list[RunSpec]:
    """The run specs of every notebook in the context, each once, in notebook order (ImageNet's only when the
    context names its root, as the notebooks do)."""
    return list(dict.fromkeys(spec for specs in notebook_specs(ctx).values() for spec in specs))


def _similarity(spec: RunSpec) -> tuple:
    """What sets a run's cost: the data, the model's size and the steps (the arm hardly does)."""
    return (type(spec.data).__name__, getattr(spec.data, "name", ""), spec.model.kind, spec.model.num_codes,
            spec.model.channels, spec.train.steps, spec.train.batch_size)


def estimate_seconds(missing: list[RunSpec], done: list[tuple[RunSpec, dict | None]]) -> float:
    """Training seconds the ``missing`` runs will take, each estimated by the mean recorded time of the cached
    runs most like it (same data, model size and steps; else same data and steps; else every cached run's
    mean): an estimate for a progress line, not a promise."""
    times: dict = {}
    for spec, stored in done:
        if stored is None:
            continue
        seconds = float(stored["wall_time"])
        key = _similarity(spec)
        for level in (key, (key[0], key[1], key[5]), ()):
            times.setdefault(level, []).append(seconds)
    total = 0.0
    for spec in missing:
        key = _similarity(spec)
        for level in (key, (key[0], key[1], key[5]), ()):
            if level in times:
                total += sum(times[level]) / len(times[level])
                break
    return total


def _duration(seconds: float) -> str:
    """'under a minute', 'about 12 min', 'about 2 h 05 min'."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60:02d} min"


def _executor(args):
    if args.executor == "sequential":
        os.environ["VQLIB_WORKERS"] = "1"  # run_many then computes in this process
        return None
    if args.executor == "local":
        from ..executors import local_pool

        return local_pool(args.workers)
    try:
        import submitit
    except ImportError as error:
        raise SystemExit("--executor slurm needs submitit: pip install 'vqlib[cluster]'") from error
    folder = Path(args.log_folder or paths.cache_dir() / "submitit")
    executor = submitit.AutoExecutor(folder=folder)
    options = {"timeout_min": args.timeout_min, "cpus_per_task": args.cpus_per_task, "gpus_per_node": args.gpus}
    if args.partition:
        options["slurm_partition"] = args.partition
    executor.update_parameters(**options)
    return executor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.studies.every_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=os.environ.get("VQLIB_SCALE") or "default", choices=sorted(SCALES),
                        help="default: VQLIB_SCALE, else 'default'")
    parser.add_argument("--cifar-root", default=None,
                        help="a local CIFAR-10 copy (default: VQLIB_CIFAR10, else the official download)")
    parser.add_argument("--imagenet-root", default=None,
                        help="an ImageNet ImageFolder root (default: VQLIB_IMAGENET; neither: no ImageNet runs)")
    parser.add_argument("--imagenet-classes", default=None,
                        help="a text file of the ImageNet wnids to keep (default: VQLIB_IMAGENET_CLASSES)")
    parser.add_argument("--executor", default="local", choices=("local", "slurm", "sequential"))
    parser.add_argument("--workers", type=int, default=None, help="local pool size (default: VQLIB_WORKERS, else "
                                                                   "one per GPU, else one per core)")
    parser.add_argument("--list", action="store_true", help="print how many runs there are and which are cached")
    parser.add_argument("--progress", action="store_true",
                        help="print one line: runs in the cache of all, and the training time left (estimated)")
    slurm = parser.add_argument_group("slurm (submitit.AutoExecutor)")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--timeout-min", type=int, default=240)
    slurm.add_argument("--cpus-per-task", type=int, default=4)
    slurm.add_argument("--gpus", type=int, default=1, help="GPUs per job (0 for CPU jobs)")
    slurm.add_argument("--log-folder", default=None, help="submitit's folder (default: <cache>/submitit)")
    args = parser.parse_args(argv)
    ctx = context(args.scale, args.cifar_root, args.imagenet_root, args.imagenet_classes)
    specs = every_spec(ctx)
    payloads = [run_payload(spec, prepare(spec.data).identity) for spec in specs]
    present = [store.has("run", payload) for payload in payloads]
    cached = sum(present)
    if args.progress:
        workers = args.workers or executors.default_workers()
        left = 0.0 if cached == len(specs) else estimate_seconds([s for s, p in zip(specs, present) if not p],
                                [(s, store.load("run", p)) for s, p, here in zip(specs, payloads, present) if here])
        print(f"== runs: {cached} of {len(specs)} in the cache (every notebook at scale {ctx.name})"
              + (f"; {_duration(left / workers)} of training left at {workers} workers (estimated from the recorded "
                 "times of similar runs)" if cached < len(specs) else ""))
        return 0
    print(f"{len(specs)} runs at scale {ctx.name}, {cached} of them in the cache "
          f"({paths.cache_dir()})", file=sys.stderr)
    if args.list:
        return 0
    executor = _executor(args)
    try:
        run_many(specs, desc="every run", executor=executor)
    finally:
        if executor is not None and hasattr(executor, "shutdown"):
            executor.shutdown()
    print(f"all {len(specs)} runs are in the cache", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
