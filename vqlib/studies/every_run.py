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
from .. import paths
from ..data import prepare
from ..experiments import RunSpec, run_many, run_payload
from ..scales import SCALES
from .context import Context, context
from .registry import notebook_specs

__all__ = ["every_spec", "main"]


def every_spec(ctx: Context) -> list[RunSpec]:
    """The run specs of every notebook in the context, each once, in notebook order (ImageNet's only when the
    context names its root, as the notebooks do)."""
    return list(dict.fromkeys(spec for specs in notebook_specs(ctx).values() for spec in specs))


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
    slurm = parser.add_argument_group("slurm (submitit.AutoExecutor)")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--timeout-min", type=int, default=240)
    slurm.add_argument("--cpus-per-task", type=int, default=4)
    slurm.add_argument("--gpus", type=int, default=1, help="GPUs per job (0 for CPU jobs)")
    slurm.add_argument("--log-folder", default=None, help="submitit's folder (default: <cache>/submitit)")
    args = parser.parse_args(argv)
    ctx = context(args.scale, args.cifar_root, args.imagenet_root, args.imagenet_classes)
    specs = every_spec(ctx)
    cached = sum(store.has("run", run_payload(spec, prepare(spec.data).identity)) for spec in specs)
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
