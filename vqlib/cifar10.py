"""CIFAR-10's official python release: where it is downloaded from, its checksum, and a reader of the archive
(or of its extracted ``cifar-10-batches-py/`` folder) that never runs code from the untrusted pickles.

Which copy of CIFAR-10 an experiment reads (this archive, an ImageFolder copy, a download) is chosen by
:func:`vqlib.images.load_cifar10`, which also caches the decoded arrays.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import pickle
import sys
import tarfile
import urllib.request
import zlib
from collections.abc import Sequence

import numpy as np

from .cache import atomic_write
from .imageset import DataSourceError

__all__ = [
    "CIFAR10_ARCHIVE_NAME",
    "CIFAR10_BATCHES",
    "CIFAR10_BATCH_DIR",
    "CIFAR10_CLASSES",
    "CIFAR10_FIX",
    "CIFAR10_MD5",
    "CIFAR10_SPLITS",
    "CIFAR10_URL",
    "download",
    "read_cifar10_archive",
    "read_cifar10_batch_dir",
    "verify_md5",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE_NAME = "cifar-10-python.tar.gz"
CIFAR10_BATCH_DIR = "cifar-10-batches-py"
# Official label order (batches.meta). It happens to be alphabetical, so an ImageFolder copy with sorted
# class folders gets the same label indices as the official release.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST_BATCHES = ("test_batch",)
CIFAR10_SPLITS = ("train", "test")
#: the official batch files of each split
CIFAR10_BATCHES = {"train": _CIFAR10_TRAIN_BATCHES, "test": _CIFAR10_TEST_BATCHES}

#: how to point vqlib at a CIFAR-10 copy (the fix every CIFAR-10 error names)
CIFAR10_FIX = (
    "set VQLIB_CIFAR10 to a local copy - an ImageFolder root laid out as "
    "<root>/{train,test}/<class>/*.png|jpg, "
    f"the official {CIFAR10_ARCHIVE_NAME}, or a folder holding it or the extracted {CIFAR10_BATCH_DIR}/ - "
    "or pass root= to load_cifar10"
)


# ---------------------------------------------------------------------------------------------------------
# Checksums, download


def _md5_of(path: pathlib.Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`DataSourceError` unless the file's md5 equals ``expected``."""
    path = pathlib.Path(path)
    actual = _md5_of(path)
    if actual != expected.lower():
        raise DataSourceError(
            f"Checksum mismatch for {path}: expected md5 {expected}, got md5 {actual}. "
            "The file is corrupt or incomplete. Fix: delete it and retry (load_cifar10 downloads it again), "
            "or point VQLIB_CIFAR10 at a good copy."
        )


def download(url: str, dest: pathlib.Path, md5: str) -> None:
    """Download ``url`` to ``dest``; ``dest`` only appears once the whole file has the right md5.

    Network errors propagate as ``urllib.error.URLError``/``OSError``; a bad checksum raises
    :class:`DataSourceError`.
    """

    def fetch(out) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            from tqdm import tqdm

            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise DataSourceError(
                f"Downloaded {url} but its md5 is {digest.hexdigest()}, expected {md5} (truncated or altered "
                f"transfer); nothing was saved. Fix: retry, or {CIFAR10_FIX}."
            )

    atomic_write(dest, fetch)


# ---------------------------------------------------------------------------------------------------------
# Official CIFAR-10 python format


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays: archive files are untrusted input (network, user paths)
    and a plain pickle.load would run arbitrary code from them."""

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 encode bytes this way
    }

    def find_class(self, module: str, name: str):
        # The official files were pickled by numpy 1.x under Python 2 (numpy.core.*); numpy 2 renamed it.
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core.") :]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: not a numpy array component")
        return super().find_class(module, name)


def _unpickle(blob: bytes) -> dict:
    obj = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"expected a dict, got {type(obj).__name__}")
    return obj


def _decode_batches(blobs: dict[str, bytes], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate official batches: b"data" is uint8 (N, 3072) as R, G, B planes of 32x32 each."""
    images, labels = [], []
    for name in names:
        batch = _unpickle(blobs[name])
        data = np.asarray(batch[b"data"])
        batch_labels = np.asarray(batch[b"labels"], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{name}: b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
        if (
            batch_labels.shape != (data.shape[0],)
            or batch_labels.min(initial=0) < 0
            or batch_labels.max(initial=0) >= len(CIFAR10_CLASSES)
        ):
            raise ValueError(f"{name}: b'labels' do not match b'data' or are outside 0..9")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def _decode_official(blobs: dict[str, bytes], splits: Sequence[str]) -> dict:
    meta = _unpickle(blobs["batches.meta"])
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"])
    if names != CIFAR10_CLASSES:
        raise ValueError(
            f"batches.meta lists classes {names}, expected the CIFAR-10 classes {CIFAR10_CLASSES}"
        )
    return {split: _decode_batches(blobs, CIFAR10_BATCHES[split]) for split in splits}


_CORRUPT_ERRORS = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    OSError,  # includes gzip.BadGzipFile
    pickle.UnpicklingError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
)


def read_cifar10_archive(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode the official ``cifar-10-python.tar.gz`` into ``{"train": (images, labels), "test": ...}``.

    Images are uint8 (N, 32, 32, 3) RGB, labels int64 (N,). The archive is read in memory, never extracted.
    """
    path = pathlib.Path(path)
    wanted = {*_CIFAR10_TRAIN_BATCHES, *_CIFAR10_TEST_BATCHES, "batches.meta"}
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # streaming: one pass over the gzip stream
                parent, _, name = member.name.rpartition("/")
                if member.isfile() and name in wanted and parent.endswith(CIFAR10_BATCH_DIR):
                    blobs[name] = tar.extractfile(member).read()
        missing = sorted(wanted - blobs.keys())
        if missing:
            raise KeyError(f"archive lacks {CIFAR10_BATCH_DIR}/{', '.join(missing)}")
        return _decode_official(blobs, CIFAR10_SPLITS)
    except _CORRUPT_ERRORS as exc:
        raise DataSourceError(
            f"Cannot read CIFAR-10 archive {path}: {type(exc).__name__}: {exc}. It is truncated, corrupt or "
            f"not the official python release. Fix: delete it and retry, or {CIFAR10_FIX}."
        ) from exc


def read_cifar10_batch_dir(path: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split from the extracted official batches in ``path``: uint8 (N, 32, 32, 3) images, int64 labels."""
    names = CIFAR10_BATCHES[split]
    try:
        blobs = {name: (path / name).read_bytes() for name in (*names, "batches.meta")}
        return _decode_official(blobs, [split])[split]
    except _CORRUPT_ERRORS as exc:
        raise DataSourceError(
            f"Cannot read extracted CIFAR-10 batches in {path}: {type(exc).__name__}: {exc}. "
            f"Fix: re-extract the official {CIFAR10_ARCHIVE_NAME} there, or {CIFAR10_FIX}."
        ) from exc
