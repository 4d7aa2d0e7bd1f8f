"""One run on several processes: torch.distributed data parallelism, launched by ``torchrun``.

    torchrun --standalone --nproc_per_node 4 -m vqlib.ddp spec.pkl      # one machine, 4 GPUs
    vqlib.experiments.run(spec, processes=4)                             # the same, from Python

Each process (rank) computes on its own device (``cuda:LOCAL_RANK``, or the CPU with the gloo backend) and
trains the same model: every rank draws the same global batch of ``TrainSpec.batch_size`` inputs from the
same seeded generator and takes its own contiguous shard of it, so the global batch, and with it what the
results mean, does not depend on the number of processes. DistributedDataParallel averages the gradients.

Joining and leaving the process group (:func:`join`, :func:`leave`) is where a rank can abort at exit, and why
both are done here and nowhere else (issue 26). ``torch._dynamo``, which torch imports the first time an
optimizer or a DistributedDataParallel wrapper is made, keeps references to the default process group when it
is imported after the group exists (measured: 10, never released). The group then outlives
``destroy_process_group``, and gloo's worker threads run into the interpreter's shutdown; a worker that drops
the last collective's tensors at that moment needs the GIL, the finalizing interpreter ends the thread inside a
destructor that may not throw, and the rank dies with "terminate called without an active exception"
(SIGABRT; seen in a core dump: ``~AsyncAllgatherWork`` -> ``decref_pyobject`` -> ``take_gil`` ->
``pthread_exit``). :func:`join` therefore imports ``torch._dynamo`` before creating the group, and
:func:`leave` waits for every rank, destroys the group and reports any of its threads still running.

What the VQ layer must do under data parallelism, and where other codebases go wrong (see
:class:`vqlib.quantize.VectorQuantizer`): the per-step code counts and embedding sums are summed over ranks
before the EMA update (else each replica's codebook follows its own shard and they drift apart silently);
the dead-code replacement is decided on rank 0 and broadcast (ranks never branch on their own floats, so no
collective is left waiting); k-means at the switch sees the embeddings of every rank's shard, and every rank
starts from rank 0's codebook. Collectives are only ever entered on paths every rank takes: quantized
*training* steps, the switch, and :func:`vqlib.train.evaluate`, where every rank evaluates its share of the
batches and the usage counts, error sums and embedding statistics are summed. The model's evaluation-mode
forward never enters one, so a picture or a probe drawn on rank 0 alone cannot hang. Rank 0 keeps the history
and writes checkpoints and the result. "Distributed or not" is asked at every call, never cached.

After training every rank compares a digest of its codebook and quantizer buffers with the others'; a
difference is an error, not a warning. Then every rank leaves together (:func:`leave`): a barrier once rank 0
has stored the result, then the process group is destroyed and its threads are gone before the process exits.
"""

from __future__ import annotations

import gc
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "all_reduce_sum", "broadcast", "barrier", "gather_rows",
           "state_digest", "check_replicas", "rank_device", "join", "leave", "leftover_threads"]


def is_distributed() -> bool:
    """Whether this process is one of several in an initialized process group (asked anew at every call)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks, in place (the identity in one process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` with rank ``src``'s, in place (the identity in one process)."""
    if is_distributed():
        dist.broadcast(tensor, src)
    return tensor


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every rank's rows [n_r, d], concatenated in rank order on every rank (the rows themselves in one
    process). Ranks may hold different numbers of rows."""
    if not is_distributed():
        return rows
    counts = [torch.zeros((), dtype=torch.long, device=rows.device) for _ in range(world_size())]
    dist.all_gather(counts, torch.tensor(rows.shape[0], device=rows.device))
    longest = int(max(counts))
    padded = torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype, device=rows.device)
    padded[:rows.shape[0]] = rows
    parts = [torch.empty_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    return torch.cat([part[:int(n)] for part, n in zip(parts, counts)])


def state_digest(module: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer of ``module`` (bitwise: two replicas agree or they do not)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_replicas(module: torch.nn.Module, what: str = "model") -> None:
    """Raise on every rank when the ranks' copies of ``module`` are not bitwise identical."""
    if not is_distributed():
        return
    digests: list[str | None] = [None] * world_size()
    dist.all_gather_object(digests, state_digest(module))
    if len(set(digests)) > 1:
        raise RuntimeError(f"the {what} differs between ranks after training (digests by rank: "
                           f"{[d[:12] for d in digests]}): the replicas drifted apart")


def rank_device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` where there are GPUs (and VQLIB_DEVICE does not name the CPU), else
    the CPU."""
    if torch.cuda.is_available() and not os.environ.get("VQLIB_DEVICE", "").startswith("cpu"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def join(device: torch.device) -> None:
    """Join torchrun's process group: NCCL on GPUs, gloo on the CPU; VQLIB_DIST_TIMEOUT seconds (default 1800)
    for any collective to complete. ``torch._dynamo`` is imported first: imported later (by the first optimizer),
    it would keep the group alive past :func:`leave` (see the module docstring)."""
    import torch._dynamo  # noqa: F401 - before the group exists, so that it holds no reference to it

    timeout = timedelta(seconds=float(os.environ.get("VQLIB_DIST_TIMEOUT", "1800")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)


#: the names Linux gives the threads of a live process group (gloo's I/O loop and ProcessGroupGloo's workers)
PROCESS_GROUP_THREADS = ("gloo_tcp_loop", "pt_gloo_runloop")


def leftover_threads() -> list[str]:
    """The threads of a process group still running in this process (Linux; elsewhere an empty list)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return []
    names = []
    for task in tasks.iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # the thread ended while we looked
            continue
    return sorted(name for name in names if name.startswith(PROCESS_GROUP_THREADS))


def leave(together: bool = True) -> list[str]:
    """Leave the process group so that nothing of it outlives this call: wait for every rank at a barrier
    (``together``: no rank leaves while rank 0 still stores the result; skipped on a failure path, where another
    rank may never arrive), destroy the group, and return the names of any of its threads still running (an
    empty list when the group is really gone).

    The group's worker threads must be gone before the interpreter shuts down: a worker that releases a
    collective's tensors during shutdown aborts the process (see the module docstring)."""
    if dist.is_available() and dist.is_initialized():
        if together and is_distributed():
            dist.barrier()
        dist.destroy_process_group()
    gc.collect()  # anything else still holding the group lets go now, while the interpreter is alive
    return leftover_threads()
