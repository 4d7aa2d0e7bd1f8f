"""What every image reader returns and raises, and the ``.npy`` cache of decoded arrays they share.

:class:`ImageSet` holds decoded images, their labels and a ``source`` string naming where they came from;
:class:`DataSourceError` is raised when a dataset cannot be found or read, its message naming the fix. The
readers are :mod:`vqlib.cifar10` (the official archive), :mod:`vqlib.image_folder` (ImageFolder trees) and
:mod:`vqlib.images` (which of them each dataset is read from).

A cache entry is ``<key>.images.npy``, ``<key>.labels.npy`` and a small JSON "commit" file. The commit file is
written last, and an entry is only trusted once it exists, so an interrupted write can never be mistaken for a
complete one. Keys hash what the arrays were decoded from (:func:`cache_key`); the images load memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import warnings
from dataclasses import dataclass

import numpy as np

from .cache import atomic_write

__all__ = ["DataSourceError", "ImageSet", "cache_key", "cache_paths", "cache_load", "cache_save", "cache_commit"]

# Bump when the cached array layout or decoding changes, so old cache entries are ignored.
# 2: image folders are stored class-interleaved.
_CACHE_VERSION = 2


class DataSourceError(RuntimeError):
    """A dataset could not be found or read; the message names the problem and how to fix it."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing/hashing ndarray fields element-wise is meaningless
class ImageSet:
    """Decoded images with integer labels and a description of where they came from."""

    images: np.ndarray  # uint8, (N, H, W, 3), channel-last RGB
    labels: np.ndarray  # int64, (N,)
    classes: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        # Catch loader bugs at construction rather than deep inside a training loop.
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(
                f"ImageSet.images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.dtype != np.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"ImageSet.labels must be int64 ({self.images.shape[0]},), "
                f"got {self.labels.dtype} {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ---------------------------------------------------------------------------------------------------------
# Cache of decoded arrays


def cache_key(tag: str, parts: dict) -> str:
    """``<tag>-<20 hex digits>``: a hash of ``parts`` (what the arrays were decoded from) and the layout version."""
    blob = json.dumps({"version": _CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return f"{tag}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def cache_paths(cache_dir: pathlib.Path, key: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """The images, labels and commit-marker files of the entry ``key``."""
    return (
        cache_dir / f"{key}.images.npy",
        cache_dir / f"{key}.labels.npy",
        cache_dir / f"{key}.json",  # commit marker, written last
    )


def cache_load(cache_dir: pathlib.Path | None, key: str) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """A committed entry: images memory-mapped read-only (the OS pages them in and out, so a data set larger
    than RAM costs the process no memory of its own), labels read."""
    if cache_dir is None:
        return None
    images_path, labels_path, meta_path = cache_paths(cache_dir, key)
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(images_path, mmap_mode="r", allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # absent, truncated or unreadable: decode again and rewrite
    if (
        list(images.shape) != meta.get("images_shape")
        or images.dtype != np.uint8
        or labels.dtype != np.int64
        or labels.shape != images.shape[:1]
    ):
        return None
    return images, labels, meta


def cache_save(
    cache_dir: pathlib.Path | None, key: str, images: np.ndarray, labels: np.ndarray, meta: dict
) -> None:
    """Store an entry (nothing when ``cache_dir`` is None; a warning, not an error, when it cannot be written)."""
    if cache_dir is None:
        return
    images_path, labels_path, meta_path = cache_paths(cache_dir, key)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Drop any old commit marker first: while the arrays are being replaced the entry must not be trusted.
        meta_path.unlink(missing_ok=True)
        atomic_write(images_path, lambda f: np.save(f, images, allow_pickle=False))
        atomic_write(labels_path, lambda f: np.save(f, labels, allow_pickle=False))
        record = {**meta, "images_shape": list(images.shape)}
        atomic_write(meta_path, lambda f: f.write(json.dumps(record, indent=1).encode()))
    except OSError as exc:
        # A read-only or full disk must not stop the experiment: the data are decoded, only slower next time.
        warnings.warn(
            f"could not write image cache in {cache_dir} ({exc}); continuing without it", stacklevel=3
        )


def cache_commit(cache_dir: pathlib.Path, key: str, labels: np.ndarray, meta: dict) -> None:
    """Write the labels and then the commit marker of an entry whose images file is already in place (the
    resumable decode of :mod:`vqlib.image_folder` writes it itself)."""
    images_path, labels_path, meta_path = cache_paths(cache_dir, key)
    shape = list(np.load(images_path, mmap_mode="r").shape)
    atomic_write(labels_path, lambda f: np.save(f, labels, allow_pickle=False))
    record = {**meta, "images_shape": shape}
    atomic_write(meta_path, lambda f: f.write(json.dumps(record, indent=1).encode()))
