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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm import tqdm

from . import metrics, paths
from .crops import center_crop
from .data import Prepared
from .init import INITIALIZERS, make_codebook
from .models import VQAutoencoder, reconstruction_loss

__all__ = ["TrainSpec", "train", "evaluate", "encode_all"]


@dataclass(frozen=True)
class TrainSpec:
    """How to train one model. ``quantize_from`` = T_c (0 for early quantization)."""

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
        if not 0 <= self.quantize_from < self.steps:
            raise ValueError(f"quantize_from (T_c) must lie in [0, steps={self.steps}), got {self.quantize_from!r}")
        if self.codebook_init not in INITIALIZERS:
            raise ValueError(f"unknown codebook_init {self.codebook_init!r}; choose one of {sorted(INITIALIZERS)}")
        for name in ("batch_size", "eval_every", "init_samples", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")


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
    """Every metric of the history table on the whole evaluation set.

    Code-side metrics (usage, spread, shrinkage, coverage) are NaN while the quantizer is a pass-through:
    during the continuous phase there is no codebook in use yet.
    """
    rows, recon, errors, _ = encode_all(model, data.eval, batch_size)
    out: dict[str, float] = {"recon_mse": float(errors.double().mean())}
    embedding_stats = metrics.embedding_metrics(rows)
    out.update(embedding_stats)
    vq = model.quantizer
    if vq.active:
        labels = data.eval_labels if data.means is not None else None  # mixture components: coverage
        lookup = vq.embed(rows.to(vq.codebook.device)).cpu()
        # Without a projection or normalization the lookup space is the embedding space: reuse its statistics.
        same_space = torch.equal(lookup, rows)
        out.update(metrics.codebook_metrics(lookup, vq.codes().cpu(), labels, data.num_components,
                                            embedding_stats if same_space else None))
    if data.means is not None:
        out["reconstruction_coverage"] = metrics.reconstruction_coverage(recon, data.eval_labels, data.means)
    return out


def train(model: VQAutoencoder, data: Prepared, spec: TrainSpec, seed: int = 0, progress: bool | None = None,
          description: str = "train") -> pd.DataFrame:
    """Train ``model`` on ``data`` following ``spec``; returns the history table (one row per evaluation).

    Deterministic for a given seed: batches, crops, the codebook initializer and dead-code replacement draw
    from generators seeded here. The global random state is left as it was (a layer that draws from it, such
    as vector-quantize-pytorch's, sees it seeded inside a fork). Build the model with
    :func:`vqlib.experiments.initial_model` for seeded weights.
    """
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _train(model, data, spec, seed, progress, description, device)


def _train(model, data, spec, seed, progress, description, device) -> pd.DataFrame:
    batch_gen = torch.Generator().manual_seed(seed)
    init_gen = torch.Generator().manual_seed(seed + 1)
    vq = model.quantizer
    if hasattr(vq, "manual_seed"):
        vq.manual_seed(seed + 2)  # dead-code replacements
    vq.active = False  # switched on inside the loop at quantize_from, after the codebook is initialized
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=spec.lr)
    history: list[dict[str, float]] = []
    n = data.train.shape[0]
    train_data = data.train.to(device)  # once, not per batch (a no-op on the CPU)
    start_time = time.perf_counter()

    def record(step: int, loss: float) -> None:
        row = {"step": step, "loss": loss, "quantized": vq.active}
        row.update(evaluate(model, data, spec.eval_batch_size))
        row["wall_time"] = time.perf_counter() - start_time
        history.append(row)

    model.train()
    running = math.nan
    bar = tqdm(range(spec.steps), desc=description, leave=False, disable=not paths.progress_enabled(progress),
               mininterval=1.0)
    for step in bar:
        if step == spec.quantize_from:
            _switch_on(model, data, spec, init_gen)
            if step > 0:  # the state just before quantization starts, with the fresh codebook
                record(step, running)
        if step == 0 or (step % spec.eval_every == 0 and step != spec.quantize_from):
            record(step, running)
        idx = torch.randint(0, n, (min(spec.batch_size, n),), generator=batch_gen)
        x = data.crop_for_training(train_data[idx.to(device)], batch_gen)
        out = model(x)
        loss = reconstruction_loss(out.reconstruction, x) + out.vq_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.95 * running + 0.05 * value
        if step % 50 == 0:
            bar.set_postfix(loss=f"{running:.4f}", quantized=vq.active)
    record(spec.steps, running)
    return pd.DataFrame(history)


@torch.no_grad()
def _switch_on(model: VQAutoencoder, data: Prepared, spec: TrainSpec, gen: torch.Generator) -> None:
    """Build the codebook from the current encoder's embeddings of a training sample, then quantize."""
    vq = model.quantizer
    if spec.codebook_init == "own":
        vq.active = True
        return
    embeddings = None
    if INITIALIZERS[spec.codebook_init]:
        pick = torch.randperm(data.train.shape[0], generator=gen)
        # Enough inputs for init_samples token rows. An image gives one row per latent position of the
        # *cropped* input the model trains on, so count rows on a cropped one.
        device = vq.codebook.device
        first = data.train[:1] if data.crop is None else center_crop(data.train[:1], data.crop)
        rows_per_input = model.vectors(model.encode(first.to(device))).shape[0]
        n_inputs = -(-spec.init_samples // rows_per_input)
        sample = data.crop_for_training(data.train[pick[:n_inputs]], gen)
        rows, _, _, _ = encode_all(model, sample, spec.eval_batch_size)
        # One image gives many token rows: keep a random init_samples of them.
        rows = rows[torch.randperm(rows.shape[0], generator=gen)[: spec.init_samples]]
        embeddings = vq.embed(rows.to(device)).cpu()
    codebook = make_codebook(spec.codebook_init, vq.num_codes, vq.code_dim, embeddings=embeddings,
                             scale=spec.init_scale, kmeans_iters=spec.kmeans_iters, generator=gen)
    vq.initialize(codebook.to(vq.codebook.device))
    vq.active = True
