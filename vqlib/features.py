"""A small CIFAR-10 classifier used as a feature extractor for feature-space sample metrics.

This is **not** Inception-v3: Fréchet distances computed on these features are not FID values and must not
be compared with published FIDs, only with each other (same classifier weights, same data). The classifier
is trained here, on CPU, in a few minutes; its 128-d penultimate activations feed
:func:`vqlib.diversity.frechet_distance`, :func:`~vqlib.diversity.precision_recall` and
:func:`~vqlib.diversity.vendi_score`.

Images are NCHW in [-1, 1] (the library's convention), 32x32 (any size >= 8 works: global average pool).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import __version__, paths
from .experiments import _atomic_save

__all__ = ["SmallCNN", "train_classifier", "cached_classifier", "classifier_key", "extract_features", "accuracy",
           "FEATURE_DIM"]

FEATURE_DIM = 128


class SmallCNN(nn.Module):
    """Three blocks conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool with 32, 64, 128 channels (32x32 -> 4x4),
    global average pool -> 128-d features -> linear classifier over ``num_classes``."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        layers: list[nn.Module] = []
        last = in_channels
        for width in (32, 64, FEATURE_DIM):
            layers += [nn.Conv2d(last, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            last = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(FEATURE_DIM, num_classes)
        self.num_classes = int(num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate activations (after global average pooling), [B, 128]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _check_images(images, name: str = "images") -> torch.Tensor:
    images = torch.as_tensor(images)
    if not images.dtype.is_floating_point:
        raise ValueError(f"{name} must be float images in [-1, 1], got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[1] != 3 or min(images.shape[2:]) < 8:
        raise ValueError(f"{name} must be [N, 3, H, W] with N >= 1 and H, W >= 8 (32x32 for CIFAR-10), got shape "
                         f"{tuple(images.shape)}")
    return images.float()


def _check_labels(labels, n: int, num_classes: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be integer class indices of shape [{n}] (one per image), got dtype "
                         f"{labels.dtype}, shape {tuple(labels.shape)}")
    labels = labels.long()
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must lie in [0, num_classes={num_classes}), got range [{int(labels.min())}, "
                         f"{int(labels.max())}]")
    return labels


def train_classifier(images: torch.Tensor, labels: torch.Tensor, steps: int = 1500, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, progress: bool | None = None, num_classes: int = 10,
                     eval_every: int = 250) -> tuple[SmallCNN, pd.DataFrame]:
    """Train a :class:`SmallCNN` with Adam on (images in [-1, 1], labels); returns (model in evaluation
    mode, history).

    Each step draws ``batch_size`` images with a seeded generator and flips each horizontally with
    probability 1/2. History: a row every ``eval_every`` steps and at the end, with ``step``,
    ``train_loss`` (mean cross-entropy over the steps since the previous row), ``train_acc`` (mean batch
    accuracy over the same steps) and ``wall_time``. Deterministic for a seed.
    """
    images = _check_images(images)
    labels = _check_labels(labels, images.shape[0], num_classes)
    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = images.shape[0]
    history: list[dict[str, float]] = []
    start_time = time.perf_counter()
    loss_sum, correct_sum, count = 0.0, 0.0, 0
    model.train()
    bar = tqdm(range(1, steps + 1), desc="classifier", leave=False, disable=not paths.progress_enabled(progress),
               mininterval=1.0)
    for step in bar:
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen)
        x, y = images[idx], labels[idx]
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach())
        correct_sum += float((logits.detach().argmax(1) == y).double().mean())
        count += 1
        if step % eval_every == 0 or step == steps:
            history.append({"step": step, "train_loss": loss_sum / count, "train_acc": correct_sum / count,
                            "wall_time": time.perf_counter() - start_time})
            bar.set_postfix(loss=f"{loss_sum / count:.3f}")
            loss_sum, correct_sum, count = 0.0, 0.0, 0
    return model.eval(), pd.DataFrame(history)


def classifier_key(source: str, num_images: int, steps: int, seed: int, batch_size: int = 128, lr: float = 1e-3,
                   num_classes: int = 10) -> str:
    """sha256 of (source, number of images, steps, seed, batch_size, lr, num_classes, library version)."""
    payload = json.dumps({"source": str(source), "num_images": int(num_images), "steps": int(steps),
                          "seed": int(seed), "batch_size": int(batch_size), "lr": float(lr),
                          "num_classes": int(num_classes), "architecture": "SmallCNN-32-64-128",
                          "version": __version__}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def cached_classifier(images: torch.Tensor, labels: torch.Tensor, source: str, steps: int = 1500, seed: int = 0,
                      batch_size: int = 128, lr: float = 1e-3, num_classes: int = 10, progress: bool | None = None,
                      force: bool | None = None, cache: bool = True) -> tuple[SmallCNN, pd.DataFrame, bool]:
    """:func:`train_classifier`, or its stored result: returns (model in evaluation mode, history, cached).

    Stored at ``paths.cache_dir()/classifier-<key>.pt`` (key: :func:`classifier_key`), written atomically.
    The key names the data by ``source`` (e.g. the loader's source string plus the split) and the number
    of images, not by their content: pass a source that changes whenever the images do. ``force=True`` (or
    VQLIB_FORCE=1) retrains and overwrites.
    """
    images = _check_images(images)
    labels = _check_labels(labels, images.shape[0], num_classes)
    if not isinstance(source, str) or not source:
        raise ValueError(f"source must be a non-empty string naming the training images, got {source!r}")
    if force is None:
        force = os.environ.get("VQLIB_FORCE", "0") == "1"
    key = classifier_key(source, images.shape[0], steps, seed, batch_size, lr, num_classes)
    path = paths.cache_dir() / f"classifier-{key}.pt"
    if cache and not force and path.exists():
        stored = torch.load(path, weights_only=False)
        model = SmallCNN(stored["num_classes"])
        model.load_state_dict(stored["state_dict"])
        return model.eval(), pd.DataFrame(stored["history"]), True
    model, history = train_classifier(images, labels, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                      progress=progress, num_classes=num_classes)
    if cache:
        _atomic_save({"state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
                      "history": history.to_dict("list"), "num_classes": num_classes, "source": source,
                      "num_images": images.shape[0], "steps": steps, "seed": seed, "version": __version__}, path)
    return model, history, False


@torch.no_grad()
def extract_features(model: SmallCNN, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Penultimate 128-d features [N, 128] (float32) of images in [-1, 1], in evaluation mode, no gradients;
    the model's mode is restored afterwards."""
    images = _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    was_training = model.training
    model.eval()
    try:
        out = [model.features(images[s:s + batch_size]) for s in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).float()


@torch.no_grad()
def accuracy(model: SmallCNN, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of images whose arg-max class equals the label (evaluation mode, no flips)."""
    images = _check_images(images)
    labels = _check_labels(labels, images.shape[0], model.num_classes)
    was_training = model.training
    model.eval()
    try:
        preds = torch.cat([model(images[s:s + batch_size]).argmax(1) for s in range(0, images.shape[0], batch_size)])
    finally:
        model.train(was_training)
    return float((preds == labels).double().mean())
