"""A small CIFAR-10 classifier used as a feature extractor for feature-space sample metrics.

This is **not** Inception-v3: Fréchet distances computed on these features are not FID values and must not
be compared with published FIDs, only with each other (same classifier weights, same data). The classifier
is trained here, on CPU, in a few minutes; its 128-d penultimate activations feed
:func:`vqlib.diversity.frechet_distance`, :func:`~vqlib.diversity.precision_recall` and
:func:`~vqlib.diversity.vendi_score`.

Images are NCHW in [-1, 1] (the library's convention), 32x32 (any size >= 8 works: global average pool).
"""

from __future__ import annotations

import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import cache as store
from . import paths

__all__ = ["SmallCNN", "train_classifier", "cached_classifier", "classifier_payload", "extract_features", "accuracy",
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
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded weights, global random state left as it was
        torch.manual_seed(seed)
        model = SmallCNN(num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
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


def classifier_payload(images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int, batch_size: int = 128,
                       lr: float = 1e-3, num_classes: int = 10) -> dict:
    """What a trained classifier depends on: the content of its training images and labels, the
    architecture and every training setting."""
    return {"data": store.digest(images, labels), "architecture": "SmallCNN-32-64-128", "steps": int(steps),
            "seed": int(seed), "batch_size": int(batch_size), "lr": float(lr), "num_classes": int(num_classes)}


def cached_classifier(images: torch.Tensor, labels: torch.Tensor, steps: int = 1500, seed: int = 0,
                      batch_size: int = 128, lr: float = 1e-3, num_classes: int = 10, progress: bool | None = None,
                      force: bool | None = None, cache: bool = True) -> tuple[SmallCNN, pd.DataFrame, bool]:
    """:func:`train_classifier`, or its stored result: returns (model in evaluation mode, history, cached).

    Stored in :mod:`vqlib.cache` (kind "classifier", payload :func:`classifier_payload`: the images are named
    by a checksum of their content). ``cache=False`` neither reads nor writes it; ``force=True`` (or
    VQLIB_FORCE=1) retrains and overwrites.
    """
    images = _check_images(images)
    labels = _check_labels(labels, images.shape[0], num_classes)
    payload = classifier_payload(images, labels, steps, seed, batch_size, lr, num_classes)

    def compute() -> dict:
        model, history = train_classifier(images, labels, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                          progress=progress, num_classes=num_classes)
        return {"state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "history": history.to_dict("list")}

    stored, hit = store.cached("classifier", payload, compute, force=force, enabled=cache)
    model = SmallCNN(num_classes)
    model.load_state_dict(stored["state_dict"])
    return model.eval(), pd.DataFrame(stored["history"]), hit


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
