"""Where cached results are computed: in this process, on a local pool of processes, or by any
:class:`concurrent.futures.Executor` (submitit's ``AutoExecutor`` for a SLURM cluster).

Results always meet in the run cache (:mod:`vqlib.cache`): a worker computes an entry and writes it
atomically, the caller then loads it. So a worker needs the same cache folder as the caller: on one machine
that is automatic; on a cluster point ``VQLIB_CACHE`` at a shared filesystem.

**Same numbers on any executor.** A CPU computation's last digits depend on how many threads split its sums.
Every cached computation therefore runs with :func:`compute_threads` CPU threads (``VQLIB_RUN_THREADS``,
default 1), whichever process it runs in: a run computed sequentially, on a pool of 8 or on a cluster node
gives the same numbers, to the last digit. Parallelism comes from computing several runs at once, which on
small models is also the faster use of the cores: two one-thread processes did 2.1x the work of one
two-thread process on the mixture runs here and 1.2x on the CIFAR-10 runs.

- :func:`local_pool`: one process per CPU core, or per visible GPU (each worker pinned to its own device);
- :func:`default_executor`: what :func:`vqlib.experiments.run_many` uses when given none: ``VQLIB_WORKERS``
  workers (default: one per core, or one per GPU), or none (compute in this process) when that is 1;
- any other executor: ``submitit.AutoExecutor(folder=...)`` sends each run to a SLURM job (``pip install
  vqlib[cluster]``); its jobs are not concurrent.futures futures, :func:`submit_all` polls them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any

import torch
from tqdm import tqdm

from . import paths

__all__ = ["compute_threads", "computing", "available_cpus", "default_workers", "local_pool", "default_executor",
           "submit_all"]


def _count_setting(name: str, default: str, meaning: str = "") -> int:
    """The environment variable ``name`` (else ``default``) as an integer >= 1, or an error naming it."""
    value = os.environ.get(name) or default
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{name} must be an integer >= 1{meaning}, got {value!r}")
    return count


def compute_threads() -> int:
    """CPU threads every cached computation uses: VQLIB_RUN_THREADS (default 1)."""
    return _count_setting("VQLIB_RUN_THREADS", "1")


@contextlib.contextmanager
def computing() -> Iterator[None]:
    """Run the body with :func:`compute_threads` torch threads, then restore the process's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(compute_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """VQLIB_WORKERS if set, else one worker per visible GPU, else one per CPU core (at most 8: memory)."""
    if os.environ.get("VQLIB_WORKERS"):
        return _count_setting("VQLIB_WORKERS", "1", " (1: compute in this process)")
    if os.environ.get("VQLIB_DEVICE", "").startswith("cpu"):
        return min(available_cpus(), 8)
    if torch.cuda.is_available():
        return torch.cuda.device_count()
    return min(available_cpus(), 8)


def _init_worker(devices) -> None:
    # Each worker takes one device off the queue before torch touches CUDA (VQLIB_DEVICE is read per run).
    if devices is not None:
        os.environ["VQLIB_DEVICE"] = devices.get()
    os.environ["VQLIB_PROGRESS"] = "0"  # the caller shows one bar for all workers
    torch.set_num_threads(compute_threads())


def local_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes on this machine (default :func:`default_workers`).

    With GPUs (and VQLIB_DEVICE not naming the CPU) worker i computes on ``cuda:i mod n``; on the CPU every
    worker computes with :func:`compute_threads` threads.
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"a pool needs at least one worker, got {workers}")
    use_gpus = torch.cuda.is_available() and not os.environ.get("VQLIB_DEVICE", "").startswith("cpu")
    # CPU workers are forked, as torch's DataLoader workers are: they start at once, share the prepared data
    # and need no `if __name__ == "__main__":` guard in a script. CUDA cannot be used in a forked child once
    # the parent has touched it, so GPU workers are spawned (a script then needs the guard).
    context = multiprocessing.get_context("spawn" if use_gpus or os.name != "posix" else "fork")
    devices = None
    if use_gpus:
        devices = context.Queue()
        for i in range(workers):
            devices.put(f"cuda:{i % torch.cuda.device_count()}")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(devices,))


def default_executor() -> Executor | None:
    """A :func:`local_pool` of :func:`default_workers` workers, or None (this process) when that is 1."""
    workers = default_workers()
    return local_pool(workers) if workers > 1 else None


def submit_all(executor: Executor, function: Callable[[Any], Any], items: Iterable[Any], desc: str,
               describe: Callable[[Any], str] = str, progress: bool | None = None) -> list[Any]:
    """``function(item)`` for every item on ``executor``, with one progress bar over completions; the
    results in the items' order. A failed item raises once every submitted item has finished or failed,
    naming the item (its workers' results, already in the cache, are kept)."""
    items = list(items)
    futures: dict[Any, int] = {executor.submit(function, item): i for i, item in enumerate(items)}
    results: list[Any] = [None] * len(items)
    failures: list[tuple[int, BaseException]] = []
    bar = tqdm(total=len(items), desc=desc, leave=False, disable=not paths.progress_enabled(progress))
    try:
        for future in _completed(list(futures)):
            i = futures[future]
            try:
                results[i] = future.result()
            except BaseException as error:  # noqa: BLE001 - collected, re-raised below with the item named
                failures.append((i, error))
            bar.update(1)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()  # submitit's jobs: scancel
        raise
    finally:
        bar.close()
    if failures:
        i, error = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise RuntimeError(f"{desc}: computing {describe(items[i])} failed{more}: "
                           f"{type(error).__name__}: {error}") from error
    return results


def _completed(futures: list) -> Iterator[Any]:
    """The futures as they finish: concurrent.futures' own, or anything with ``done()`` and ``result()`` (the
    jobs of submitit's executors, which are not concurrent.futures futures), polled every second."""
    if all(isinstance(f, Future) for f in futures):
        yield from as_completed(futures)
        return
    pending = list(futures)
    while pending:
        finished = [f for f in pending if f.done()]
        for f in finished:
            pending.remove(f)
            yield f
        if pending and not finished:
            time.sleep(1.0)
