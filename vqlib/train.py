"""One training loop for every study, with a quantization schedule.

Schedule: the quantizer is a pass-through until step ``quantize_from``; at that step the codebook is
built by ``codebook_init`` (k-means, a random sample of embeddings, random normal, uniform) from the
*current* encoder's embeddings of a training sample, and quantized training continues to ``steps``.

- early quantization (the paper's baseline): quantize_from = 0, codebook_init = "kmeans", EMA updates:
  k-means sees the untrained encoder's outputs;
- deferred quantization: quantize_from = T_c > 0, codebook_init = "kmeans": k-means sees the encoder
  after T_c steps of continuous autoencoder training.

The total number of optimizer steps is ``steps`` in both cases. Every ``eval_every`` steps (and at the
switch and the end) the model is evaluated on the whole evaluation set into a history table.

The loop never writes a quantizer's codebook (:mod:`vqlib.quantizers`): at the switch it asks the quantizer to
``initialize`` from the codebook an initializer built in the quantizer's lookup space (``embed``), or, with
``codebook_init="own"``, to initialize itself (from a sample of embeddings, or on its first batch); the
quantizer updates and revives its codes in its own training forward; evaluation reads ``codes()`` and
``embed()``. A reparameterized codebook (SimVQ) therefore needs no change here.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from . import accel, distributed, metrics, paths
from .cache import atomic_write
from .crops import center_crop
from .data import Prepared
from .init import INITIALIZERS, make_codebook
from .models import VQAutoencoder, reconstruction_loss
from .quantizers import nearest_code

__all__ = ["TrainSpec", "train", "evaluate", "encode_all", "NonFiniteLossError", "checkpoint_interval"]


@dataclass(frozen=True)
class TrainSpec:
    """How to train one model. ``quantize_from`` = T_c (0 for early quantization; ``steps``: never, a continuous
    autoencoder, the reference against which ``vqlib.diagnose`` calibrates embeddings collapse)."""

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    quantize_from: int = 0
    codebook_init: str = "kmeans"
    init_scale: float = 1.0  # standard deviation of the "normal" initializer
    init_samples: int = 8192  # embeddings k-means / sampling sees at the switch
    kmeans_iters: int = 20
    eval_every: int = 250
    eval_batch_size: int = 1024

    def __post_init__(self):
        if int(self.steps) != self.steps or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not 0 <= self.quantize_from <= self.steps:
            raise ValueError(f"quantize_from (T_c) must lie in [0, steps={self.steps}] (steps: never quantize, a "
                             f"continuous autoencoder), got {self.quantize_from!r}")
        if self.codebook_init not in INITIALIZERS:
            raise ValueError(f"unknown codebook_init {self.codebook_init!r}; choose one of {sorted(INITIALIZERS)}")
        for name in ("batch_size", "eval_every", "init_samples", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def check_processes(self, processes: int, num_train: int) -> None:
        """Refuse to train data-parallel on ``processes`` processes unless the global batch (``batch_size``, or all
        ``num_train`` examples when fewer) divides evenly among them: each trains on an equal shard of it.
        ``vqlib.experiments.run`` asks before it launches any process; the training loop asks again."""
        batch = min(self.batch_size, num_train)
        if processes > 1 and batch % processes:
            whole = f"batch_size={self.batch_size}" + (f", capped at the {num_train} training examples"
                                                       if batch < self.batch_size else "")
            raise ValueError(f"the global batch ({whole}) must divide evenly among the {processes} processes. "
                             f"Fix: a batch_size that is a multiple of {processes}, or a number of processes "
                             f"(processes=, VQLIB_PROCESSES) that divides {batch}")


@torch.no_grad()
def encode_all(model: VQAutoencoder, x: torch.Tensor, batch_size: int = 1024):
    """Run the model over ``x`` in evaluation mode: embeddings [M, d] (encoder outputs, lookup space not
    applied), reconstructions, squared error per input, and token indices (None before quantization)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows, recon, errors, indices = [], [], [], []
    for start in range(0, x.shape[0], batch_size):
        batch = x[start:start + batch_size].to(device)
        out = model(batch)
        rows.append(out.embeddings.float().cpu())
        recon.append(out.reconstruction.cpu())
        errors.append((out.reconstruction - batch).pow(2).flatten(1).mean(1).cpu())
        if out.indices is not None:
            indices.append(out.indices.cpu())
    model.train(was_training)
    return (torch.cat(rows), torch.cat(recon), torch.cat(errors), torch.cat(indices) if indices else None)


@torch.no_grad()
def evaluate(model: VQAutoencoder, data: Prepared, batch_size: int = 1024) -> dict[str, float]:
    """Every metric of the history table on the whole evaluation set, streamed batch by batch.

    Memory does not grow with the set: usage counts, the code-by-component table and error sums are added up
    per batch, embedding statistics accumulate in a :class:`vqlib.metrics.StreamingStats` (a d x d scatter
    matrix and a fixed sample of rows), all on the model's device. The numbers equal the whole-set functions
    of :mod:`vqlib.metrics` to rounding (tested). Code-side metrics (usage, spread, shrinkage, coverage) are
    NaN while the quantizer is a pass-through: during the continuous phase there is no codebook in use yet.

    Under torch.distributed call it on every rank: each evaluates its share of the batches and the sums are
    added up in collectives outside the model (whose evaluation-mode forward enters none); every rank returns
    the whole set's numbers.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    vq = model.quantizer
    codes = vq.codes().to(device) if vq.active else None
    mixture = data.means is not None
    stats = lookup_stats = None
    same_space = True
    error_sum = torch.zeros((), dtype=torch.float64, device=device)
    distance_sum = torch.zeros((), dtype=torch.float64, device=device)
    counts = torch.zeros(vq.num_codes, dtype=torch.long, device=device)
    table = hits = totals = None
    # Under torch.distributed every rank evaluates its share of the batches (r, r + n, ...) and the sums are
    # added up below; in one process this is the whole set, batch after batch.
    rank, ranks = distributed.rank(), distributed.world_size()
    rows_per_input = 0
    for number, x in enumerate(data.eval_batches(batch_size, device, shard=(rank, ranks))):
        start = (rank + number * ranks) * batch_size  # the batch's first input in the whole set
        with accel.autocast(device):
            out = model(accel.prepare_input(x))
        rows, reconstruction = out.embeddings.float(), out.reconstruction.float()
        error_sum += (reconstruction - x).pow(2).flatten(1).mean(1).double().sum()
        if stats is None:  # the number of rows is known once one batch shows how many an input gives
            rows_per_input = rows.shape[0] // x.shape[0]
            stats = metrics.StreamingStats(data.num_eval * rows_per_input, rows.shape[1], device=device)
        stats.update(rows, start * rows_per_input)
        labels = data.eval_labels[start:start + x.shape[0]] if mixture else None
        if codes is not None:
            lookup = vq.embed(rows)
            if lookup_stats is None and number == 0:
                # Without a projection or normalization the lookup space is the embedding space: reuse its
                # statistics for the shrinkage ratios instead of accumulating them twice.
                same_space = torch.equal(lookup, rows)
                if not same_space:
                    lookup_stats = metrics.StreamingStats(data.num_eval * rows_per_input, lookup.shape[1],
                                                          device=device)
            if lookup_stats is not None:
                lookup_stats.update(lookup, start * rows_per_input)
            indices, distances = nearest_code(lookup, codes)
            counts += torch.bincount(indices, minlength=vq.num_codes)
            distance_sum += distances.double().sum()
            if mixture:
                part = metrics.code_component_table(indices, labels, vq.num_codes, data.num_components)
                table = part if table is None else table + part
        if mixture:
            batch_hits, batch_totals = metrics.reconstruction_hits(reconstruction, labels, data.means)
            hits = batch_hits if hits is None else hits + batch_hits
            totals = batch_totals if totals is None else totals + batch_totals
    if ranks > 1:
        # Rank 0 always has the first batch: it tells a rank without any batch what to allocate.
        shape = torch.tensor([rows_per_input, stats.dim if stats else 0,
                              0 if lookup_stats is None else lookup_stats.dim], device=device)
        distributed.broadcast(shape)
        rows_per_input, dim, lookup_dim = (int(v) for v in shape)
        same_space = lookup_dim == 0
        if stats is None:
            stats = metrics.StreamingStats(data.num_eval * rows_per_input, dim, device=device)
        if lookup_stats is None and lookup_dim:
            lookup_stats = metrics.StreamingStats(data.num_eval * rows_per_input, lookup_dim, device=device)
        if mixture:
            c = data.num_components
            table = table if table is not None else torch.zeros(vq.num_codes, c, dtype=torch.long, device=device)
            hits = hits if hits is not None else torch.zeros(c, dtype=torch.long, device=device)
            totals = totals if totals is not None else torch.zeros(c, dtype=torch.long, device=device)
        for tensor in (error_sum, distance_sum, counts, *((table, hits, totals) if mixture else ())):
            distributed.all_reduce_sum(tensor)
        for streaming in (stats, lookup_stats):
            if streaming is not None:
                streaming.reduce()
    model.train(was_training)
    embedding_stats = stats.result()
    out = {"recon_mse": float(error_sum) / data.num_eval, **embedding_stats}
    if codes is not None:
        n_rows = int(counts.sum())
        coverage = metrics.coverage_from_table(table.cpu()) if mixture else None
        out.update(metrics.codebook_metrics_from_usage(
            counts.double().cpu() / n_rows, codes, float(distance_sum) / n_rows,
            embedding_stats if same_space else lookup_stats.result(), coverage))
    if mixture:
        out["reconstruction_coverage"] = metrics.coverage_from_hits(hits.cpu(), totals.cpu())
    return out


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the run, the step and the last checkpoint."""


def checkpoint_interval() -> float:
    """Seconds of training between checkpoints: VQLIB_CHECKPOINT_EVERY (default 300; 0 = after every step)."""
    value = os.environ.get("VQLIB_CHECKPOINT_EVERY", "300")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"VQLIB_CHECKPOINT_EVERY must be a number of seconds >= 0, got {value!r}")
    return seconds


def train(model: VQAutoencoder, data: Prepared, spec: TrainSpec, seed: int = 0, progress: bool | None = None,
          description: str = "train", checkpoint: str | os.PathLike | None = None) -> pd.DataFrame:
    """Train ``model`` on ``data`` following ``spec``; returns the history table (one row per evaluation).

    Deterministic for a given seed: batches, crops, the codebook initializer and dead-code replacement draw
    from generators seeded here. The global random state is left as it was (a layer that draws from it, such
    as vector-quantize-pytorch's, sees it seeded inside a fork). Build the model with
    :func:`vqlib.experiments.initial_model` for seeded weights.

    ``checkpoint``: a file to write the whole training state to every :func:`checkpoint_interval` seconds
    (atomically) and to resume from when it exists: a run killed and started again ends with the same
    history, to the last digit, as one never interrupted (the ``wall_time`` column aside). The caller deletes
    it once the result is stored. A non-finite loss stops training with :class:`NonFiniteLossError`.
    """
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _train(model, data, spec, seed, progress, description, device,
                      Path(checkpoint) if checkpoint is not None else None)


def _train(model, data, spec, seed, progress, description, device, checkpoint) -> pd.DataFrame:
    accel.configure(device)
    batch_gen = torch.Generator().manual_seed(seed)
    init_gen = torch.Generator().manual_seed(seed + 1)
    vq = model.quantizer
    accepts = getattr(vq, "accepts_init", None)
    if accepts is not None and not accepts(spec.codebook_init):
        raise ValueError(f"codebook_init={spec.codebook_init!r} does not fit the quantizer "
                         f"{getattr(vq, 'kind', '') or type(vq).__name__!r}; it takes one of "
                         f"{[name for name in INITIALIZERS if accepts(name)]}")
    if hasattr(vq, "manual_seed"):
        vq.manual_seed(seed + 2)  # dead-code replacements
    vq.active = False  # switched on inside the loop at quantize_from, after the codebook is initialized
    # fused: one kernel for all parameters; on these small models the per-tensor loop was 13 % of a mixture step
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=spec.lr, fused=True)
    history: list[dict[str, float]] = []
    running, first_step, elapsed = math.nan, 0, 0.0
    state = _load_checkpoint(checkpoint, spec, seed)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        vq.active = state["active"]
        batch_gen.set_state(state["batch_gen"])
        init_gen.set_state(state["init_gen"])
        if state["vq_generator"] is not None:
            vq.set_generator_state(state["vq_generator"])
        _set_global_rng(state["rng"], device)
        history, running, first_step, elapsed = state["history"], state["running"], state["step"], state["elapsed"]
    n = data.num_train
    # Data parallelism (vqlib.distributed): asked now, not cached. Every rank draws the same global batch and
    # trains on its own contiguous shard of it; gradients are averaged by DistributedDataParallel.
    rank, ranks = distributed.rank(), distributed.world_size()
    net = model
    if ranks > 1:
        spec.check_processes(ranks, n)
        net = _data_parallel(model)
    start_time = time.perf_counter() - elapsed
    last_saved = time.monotonic()
    every = checkpoint_interval() if checkpoint is not None else math.inf
    saved_at: str = "none"

    def record(step: int, loss: float) -> None:
        # every rank evaluates its share (the sums meet in collectives outside the model); rank 0 keeps the row
        measured = evaluate(model, data, spec.eval_batch_size)
        if rank != 0:
            return
        row = {"step": step, "loss": loss, "quantized": vq.active}
        row.update(measured)
        row["wall_time"] = time.perf_counter() - start_time
        history.append(row)

    model.train()
    bar = tqdm(range(first_step, spec.steps), desc=description, leave=False, initial=first_step, total=spec.steps,
               disable=not paths.progress_enabled(progress), mininterval=1.0)
    for step in bar:
        if step == spec.quantize_from:
            _switch_on(model, data, spec, init_gen)
            if step > 0:  # the state just before quantization starts, with the fresh codebook
                record(step, running)
        if step == 0 or (step % spec.eval_every == 0 and step != spec.quantize_from):
            record(step, running)
        idx = torch.randint(0, n, (min(spec.batch_size, n),), generator=batch_gen)
        x = accel.prepare_input(data.train_batch(idx, batch_gen, device))
        if ranks > 1:
            x = x.chunk(ranks)[rank]
        with accel.autocast(device):
            out = net(x)
            loss = reconstruction_loss(out.reconstruction.float(), x) + out.vq_loss
        # The global batch's loss on every rank, so that every rank takes the same branch below.
        value = float(distributed.all_reduce_sum(loss.detach().clone())) / ranks
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"run {description!r}: the loss is {value} at step {step} (of {spec.steps}); training stopped and "
                f"nothing was stored. Last good checkpoint: {saved_at}. Lower the learning rate or look for "
                "non-finite inputs.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running = value if math.isnan(running) else 0.95 * running + 0.05 * value
        if step % 50 == 0:
            bar.set_postfix(loss=f"{running:.4f}", quantized=vq.active)
        if rank == 0 and time.monotonic() - last_saved >= every and step + 1 < spec.steps:
            _save_checkpoint(checkpoint, spec, seed, device, step + 1, model, optimizer, vq, batch_gen, init_gen,
                             history, running, time.perf_counter() - start_time)
            saved_at, last_saved = f"{checkpoint} (step {step + 1})", time.monotonic()
    record(spec.steps, running)
    return pd.DataFrame(history)


def _data_parallel(model: VQAutoencoder) -> torch.nn.Module:
    """``model`` in DistributedDataParallel, with its buffers left alone at every forward: the quantizer keeps
    them identical itself (summed statistics, rank 0's dead-code decisions), and rank 0's buffers pushed over
    the others' at every step would hide a drift instead of letting the end-of-run check find it."""
    ddp = torch.nn.parallel.DistributedDataParallel
    sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp).parameters
            else {"broadcast_buffers": False})
    # A codebook trained by gradients takes none in the continuous phase: DDP must expect unused parameters.
    unused = any(p.requires_grad for p in model.quantizer.parameters())
    return ddp(model, find_unused_parameters=unused, **sync)


def _global_rng(device) -> dict:
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_global_rng(state: dict, device) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def _save_checkpoint(path, spec, seed, device, step, model, optimizer, vq, batch_gen, init_gen, history, running,
                     elapsed) -> None:
    state = {"train": dataclasses.asdict(spec), "seed": seed, "step": step, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "active": vq.active, "batch_gen": batch_gen.get_state(),
             "init_gen": init_gen.get_state(),
             "vq_generator": vq.generator_state() if hasattr(vq, "generator_state") else None,
             "rng": _global_rng(device), "history": history, "running": running, "elapsed": elapsed}
    atomic_write(path, lambda f: torch.save(state, f))


def _load_checkpoint(path, spec, seed) -> dict | None:
    if path is None or not path.exists():
        return None
    try:
        # on the CPU: generator states must be CPU tensors; load_state_dict moves weights and Adam's moments
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state["train"] != dataclasses.asdict(spec) or state["seed"] != seed:
            raise ValueError("it belongs to another training spec or seed")
    except Exception as error:  # unusable: start from step 0 rather than resume from something else
        warnings.warn(f"checkpoint {path} is not used ({type(error).__name__}: {error}); training from step 0",
                      stacklevel=3)
        return None
    print(f"resuming from {path} at step {state['step']}", file=sys.stderr)
    return state


@torch.no_grad()
def _embedding_sample(model: VQAutoencoder, data: Prepared, spec: TrainSpec, gen: torch.Generator,
                      device: torch.device) -> torch.Tensor:
    """The current encoder's embeddings of ``init_samples`` token rows of a training sample, in the quantizer's
    lookup space, on the CPU; the same rows on every rank."""
    vq = model.quantizer
    pick = torch.randperm(data.num_train, generator=gen)
    # Enough inputs for init_samples token rows. An image gives one row per latent position of the
    # *cropped* input the model trains on, so count rows on a cropped one.
    first = data.train_inputs(slice(0, 1))
    first = first if data.crop is None else center_crop(first, data.crop)
    rows_per_input = model.vectors(model.encode(first.to(device))).shape[0]
    n_inputs = -(-spec.init_samples // rows_per_input)
    sample = data.crop_for_training(data.train_inputs(pick[:n_inputs]), gen)
    # Under data parallelism each rank encodes its shard of the sample and k-means sees all of them.
    shard = sample.tensor_split(distributed.world_size())[distributed.rank()]
    rows, _, _, _ = encode_all(model, shard, spec.eval_batch_size)
    rows = distributed.gather_rows(rows.to(device)).cpu()
    # One image gives many token rows: keep a random init_samples of them.
    rows = rows[torch.randperm(rows.shape[0], generator=gen)[: spec.init_samples]]
    return vq.embed(rows.to(device)).cpu()


@torch.no_grad()
def _switch_on(model: VQAutoencoder, data: Prepared, spec: TrainSpec, gen: torch.Generator) -> None:
    """Ask the quantizer to initialize its codes - from the codebook an initializer builds from the current
    encoder's embeddings of a training sample, or (``"own"``) its own way - then quantize."""
    vq = model.quantizer
    device = next(model.parameters()).device
    if spec.codebook_init == "own":
        if getattr(vq, "own_init", None) == "embeddings":  # else it initializes itself on its first batch
            vq.initialize_from_embeddings(_embedding_sample(model, data, spec, gen, device), gen)
        vq.active = True
        return
    embeddings = _embedding_sample(model, data, spec, gen, device) if INITIALIZERS[spec.codebook_init] else None
    codebook = torch.empty(vq.num_codes, vq.code_dim)
    if distributed.rank() == 0:  # decided once; every rank starts from rank 0's codebook
        codebook = make_codebook(spec.codebook_init, vq.num_codes, vq.code_dim, embeddings=embeddings,
                                 scale=spec.init_scale, kmeans_iters=spec.kmeans_iters, generator=gen)
    codebook = distributed.broadcast(codebook.to(device))
    vq.initialize(codebook)
    vq.active = True
