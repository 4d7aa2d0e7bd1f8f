"""Where a fresh ``make figures`` spends its training time: every notebook's runs (each counted in the first
notebook that needs it, as ``make figures`` computes it there), with the training seconds the cache recorded for
each, summed per notebook. Runs not in the cache are counted as missing.

    .venv/bin/python tools/profile_runs.py [--scale default] [--workers 2]

The estimate of wall time divides the seconds by the workers (runs are computed ``VQLIB_WORKERS`` at a time); it
leaves out what is not a training run (notebook 04's priors and samples, t-SNE, data preparation, drawing).
"""

from __future__ import annotations

import argparse
import sys

import vqlib  # noqa: F401  (pins the arithmetic, as every notebook does)
from vqlib import cache as store
from vqlib.data import prepare
from vqlib.experiments import run_payload
from vqlib.studies.context import context
from vqlib.studies.registry import notebook_specs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    ctx = context(args.scale)
    seen: set = set()
    total = 0.0
    for stem, specs in notebook_specs(ctx).items():
        seconds, missing, runs = 0.0, 0, 0
        for spec in specs:
            if spec in seen:
                continue
            seen.add(spec)
            runs += 1
            result = store.load("run", run_payload(spec, prepare(spec.data).identity))
            if result is None:
                missing += 1
                continue
            seconds += float(result["wall_time"])
        total += seconds
        print(f"{stem}: {runs} new runs, {seconds / 60:.1f} min of training ({seconds / 60 / args.workers:.1f} min "
              f"at {args.workers} workers){f'; {missing} not in the cache' if missing else ''}")
    print(f"all notebooks: {total / 60:.1f} min of training, about {total / 60 / args.workers:.1f} min at "
          f"{args.workers} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
