"""What ``torchrun`` runs on every rank of one training run on several processes (:mod:`vqlib.distributed`).

    torchrun --standalone --nproc_per_node 4 -m vqlib.ddp spec.pkl       # spec.pkl: a pickled vqlib RunSpec

:func:`vqlib.experiments.run` with ``processes=N`` writes the spec and launches this itself. The entry point
sits above :mod:`vqlib.experiments` (it trains through it), so the lowest layer, :mod:`vqlib.distributed`,
imports nothing above it.

Every rank joins the process group, trains its shard (:func:`vqlib.experiments.train_distributed`: rank 0 stores
the result in the run cache), then all ranks leave together (:func:`vqlib.distributed.leave`). A rank whose
process group is still running threads after leaving exits with :data:`LEFTOVER_EXIT` and says which: the
result is stored, but the process would have exited under live threads (the cause of issue 26's aborts).
"""

from __future__ import annotations

import pickle
import sys

from . import distributed

__all__ = ["main", "LEFTOVER_EXIT"]

#: exit status of a rank whose process group outlived :func:`vqlib.distributed.leave`
LEFTOVER_EXIT = 3


def main(argv: list[str] | None = None) -> int:
    """Train the pickled RunSpec in ``argv[0]`` on this process group; rank 0 stores it."""
    from .experiments import train_distributed

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: torchrun --nproc_per_node N -m vqlib.ddp SPEC.pkl (a pickled vqlib RunSpec)", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f:
        spec = pickle.load(f)
    device = distributed.rank_device()
    distributed.join(device)
    finished = False
    try:
        train_distributed(spec, device)
        finished = True
    finally:
        # Together only after a rank finished: a rank that failed must not wait at a barrier the others, stopped
        # by the same error or waiting in a collective, may never reach; torchrun ends them.
        leftover = distributed.leave(together=finished)
    if leftover:
        print(f"vqlib.ddp: the process group still runs {len(leftover)} thread(s) after leaving "
              f"({', '.join(leftover)}): something holds a reference to it; the process would exit under live "
              "threads", file=sys.stderr)
        return LEFTOVER_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
