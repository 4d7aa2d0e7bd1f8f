"""Image dataset readers for CIFAR-10, ImageNet-style ImageFolder trees and the official CIFAR tarball.

The library reads its image data itself (no torchvision) so that every experiment states exactly which
copy of the data it used: each loader returns an :class:`ImageSet` whose ``source`` string names the file
or folder, and where it came from (argument, environment variable, download).

Decoded arrays are cached as ``.npy`` files so that a second load of the same source is fast. A cache
entry is only trusted once its small JSON "commit" file exists, and that file is written last, so an
interrupted write can never be mistaken for a complete one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import pickle
import sys
import tarfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import paths
from .cache import atomic_write

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DataSourceError",
    "ImageSet",
    "default_data_dir",
    "load_cifar10",
    "load_image_folder",
    "load_imagenet",
    "read_cifar10_archive",
    "read_class_list",
    "to_tensor",
    "to_uint8",
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
_CIFAR10_SPLITS = ("train", "test")

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp"})
_LOSSY_EXTENSIONS = frozenset({".jpg", ".jpeg", ".webp"})
# Bump when the cached array layout or decoding changes, so old cache entries are ignored.
# 2: image folders are stored class-interleaved.
_CACHE_VERSION = 2
# Below this many files decoding takes well under a second and a progress bar is just noise.
_PROGRESS_MIN_FILES = 2000
# Images per unit of work of the parallel decode (and of its resume bookkeeping).
_DECODE_CHUNK = 512

_CIFAR10_FIX = (
    "set VQLIB_CIFAR10 to a local copy - an ImageFolder root laid out as "
    "<root>/{train,test}/<class>/*.png|jpg, "
    f"the official {CIFAR10_ARCHIVE_NAME}, or a folder holding it or the extracted {CIFAR10_BATCH_DIR}/ - "
    "or pass root= to load_cifar10"
)


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
# Paths, checksums, download


def default_data_dir() -> pathlib.Path:
    """``$VQLIB_DATA`` if set, else ``<repo root>/data`` (see :mod:`vqlib.paths`)."""
    return paths.data_dir()


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


def _download(url: str, dest: pathlib.Path, md5: str) -> None:
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
                f"transfer); nothing was saved. Fix: retry, or {_CIFAR10_FIX}."
            )

    atomic_write(dest, fetch)


# ---------------------------------------------------------------------------------------------------------
# Cache


def _cache_key(tag: str, parts: dict) -> str:
    blob = json.dumps({"version": _CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return f"{tag}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def _cache_paths(cache_dir: pathlib.Path, key: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    return (
        cache_dir / f"{key}.images.npy",
        cache_dir / f"{key}.labels.npy",
        cache_dir / f"{key}.json",  # commit marker, written last
    )


def _cache_load(cache_dir: pathlib.Path | None, key: str) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """A committed entry: images memory-mapped read-only (the OS pages them in and out, so a data set larger
    than RAM costs the process no memory of its own), labels read."""
    if cache_dir is None:
        return None
    images_path, labels_path, meta_path = _cache_paths(cache_dir, key)
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


def _cache_save(
    cache_dir: pathlib.Path | None, key: str, images: np.ndarray, labels: np.ndarray, meta: dict
) -> None:
    if cache_dir is None:
        return
    images_path, labels_path, meta_path = _cache_paths(cache_dir, key)
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
    batches = {"train": _CIFAR10_TRAIN_BATCHES, "test": _CIFAR10_TEST_BATCHES}
    return {split: _decode_batches(blobs, batches[split]) for split in splits}


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
        return _decode_official(blobs, _CIFAR10_SPLITS)
    except _CORRUPT_ERRORS as exc:
        raise DataSourceError(
            f"Cannot read CIFAR-10 archive {path}: {type(exc).__name__}: {exc}. It is truncated, corrupt or "
            f"not the official python release. Fix: delete it and retry, or {_CIFAR10_FIX}."
        ) from exc


def _read_cifar10_batch_dir(path: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = {"train": _CIFAR10_TRAIN_BATCHES, "test": _CIFAR10_TEST_BATCHES}[split]
    try:
        blobs = {name: (path / name).read_bytes() for name in (*names, "batches.meta")}
        return _decode_official(blobs, [split])[split]
    except _CORRUPT_ERRORS as exc:
        raise DataSourceError(
            f"Cannot read extracted CIFAR-10 batches in {path}: {type(exc).__name__}: {exc}. "
            f"Fix: re-extract the official {CIFAR10_ARCHIVE_NAME} there, or {_CIFAR10_FIX}."
        ) from exc


# ---------------------------------------------------------------------------------------------------------
# ImageFolder


def _list_image_folder(base: pathlib.Path) -> tuple[tuple[str, ...], list[list[str]]]:
    """Sorted class folders and, per class, the sorted image file names (names, not paths).

    os.scandir and string sorts: a cached load still lists every file (the cache key counts them), and
    Path objects' comparisons and stat calls made that take seconds for CIFAR-10's 60,000 files."""
    with os.scandir(base) as entries:
        classes = tuple(sorted(e.name for e in entries if e.is_dir() and not e.name.startswith(".")))
    if not classes:
        raise DataSourceError(
            f"No class folders in {base}: expected an ImageFolder layout <root>/<class>/<image files>."
        )
    files = []
    for c in classes:
        with os.scandir(base / c) as entries:
            names = sorted(
                e.name
                for e in entries
                if not e.name.startswith(".")
                and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
                and e.is_file()
            )
        files.append(names)
    return classes, files


def _decode_image(path: pathlib.Path, resolution: int | None) -> np.ndarray:
    """Decode one file to uint8 RGB (H, W, 3); ``resolution``: resize shorter side (bicubic), centre crop."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataSourceError(
            f"Cannot decode image {path}: {type(exc).__name__}: {exc}. Fix: delete or replace that file."
        ) from exc
    if resolution is not None:
        w, h = img.size
        if (w, h) != (resolution, resolution):
            # Shorter side becomes exactly `resolution`; max() keeps the longer side from rounding below it.
            if w <= h:
                new_w, new_h = resolution, max(resolution, round(h * resolution / w))
            else:
                new_w, new_h = max(resolution, round(w * resolution / h)), resolution
            img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
            left, top = (new_w - resolution) // 2, (new_h - resolution) // 2
            img = img.crop((left, top, left + resolution, top + resolution))
    return np.asarray(img, dtype=np.uint8)


def load_image_folder(
    root: str | os.PathLike,
    split: str | None = None,
    resolution: int | None = None,
    limit_per_class: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    classes: Sequence[str] | None = None,
) -> ImageSet:
    """Read ``<root>/<split>/<class>/*`` (or ``<root>/<class>/*`` when ``split`` is None).

    Classes are the sorted folder names and files are read in sorted order within a class, then
    *interleaved*: the 1st image of every class, then the 2nd, and so on. The result is deterministic and
    every prefix (``images[:n]``, what ``train_images``/``eval_images`` take) spans all classes, where a
    folder-by-folder order would keep only the first few classes. With ``resolution`` each image's shorter
    side is resized to it (bicubic) and the centre ``resolution x resolution`` square is kept; without it
    all images must already share one size. ``limit_per_class`` keeps the first files of each class.
    ``classes`` keeps only those class folders (e.g. the 100 wnids of ImageNet-100 in a full ImageNet tree);
    labels are then the positions in the sorted subset.

    Decoded arrays are cached in ``cache_dir`` when one is given, as an uncompressed ``.npy`` that later loads
    memory-mapped; a large folder is decoded by parallel worker processes (``VQLIB_DECODE_WORKERS``, default
    one per CPU) and an interrupted decode resumes where it stopped.
    """
    root = pathlib.Path(root).expanduser()
    if resolution is not None and (not isinstance(resolution, int) or resolution <= 0):
        raise ValueError(f"resolution must be a positive int or None, got {resolution!r}")
    if limit_per_class is not None and (not isinstance(limit_per_class, int) or limit_per_class < 1):
        raise ValueError(f"limit_per_class must be a positive int or None, got {limit_per_class!r}")
    if not root.is_dir():
        raise DataSourceError(f"Image folder root {root} does not exist or is not a directory.")
    base = root / split if split is not None else root
    if not base.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataSourceError(
            f"Split folder {base} does not exist (folders in {root}: {available or 'none'}). "
            f"Expected the layout <root>/<split>/<class>/<image files>."
        )
    found, files = _list_image_folder(base)
    if classes is not None:
        wanted = sorted(set(classes))
        missing = [c for c in wanted if c not in found]
        if not wanted or missing:
            raise DataSourceError(
                f"The class subset names {len(missing)} folder(s) that {base} does not have: "
                f"{missing[:5]}{' ...' if len(missing) > 5 else ''} (it has {len(found)} class folders). "
                "Fix: list class folder names (e.g. ImageNet wnids such as n01440764), one per class."
                if wanted else "The class subset is empty. Fix: list at least one class folder name."
            )
        files = [f for c, f in zip(found, files, strict=True) if c in wanted]
        found = tuple(wanted)
    classes = found
    if limit_per_class is not None:
        files = [f[:limit_per_class] for f in files]
    n = sum(len(f) for f in files)
    if n == 0:
        raise DataSourceError(
            f"No image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in the class folders of {base}."
        )
    lossy = any(os.path.splitext(name)[1].lower() in _LOSSY_EXTENSIONS for f in files for name in f)
    source = f"ImageFolder at {base} ({n} images, {len(classes)} classes)"

    cache_dir = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else None
    key = None
    if cache_dir is not None:
        # Folder mtimes change when files are added, removed or renamed; together with the counts this
        # catches every change short of rewriting a file in place.
        key = _cache_key(
            "folder",
            {
                "root": str(base.resolve()),
                "mtime": base.stat().st_mtime_ns,
                "classes": [
                    [c, len(f), (base / c).stat().st_mtime_ns] for c, f in zip(classes, files, strict=True)
                ],
                "resolution": resolution,
                "limit_per_class": limit_per_class,
            },
        )
        hit = _cache_load(cache_dir, key)
        if hit is not None and tuple(hit[2].get("classes", ())) == classes:
            return _with_lossy(ImageSet(hit[0], hit[1], classes, source), lossy)

    labels = np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f in enumerate(files)])
    paths = [str(base / c / name) for c, f in zip(classes, files, strict=True) for name in f]
    order = _interleave_classes(labels)
    labels, paths = labels[order], [paths[i] for i in order]
    images = _decode_folder(paths, resolution, base, cache_dir, key)
    if images is None:  # no cache folder, or it cannot be written: decode into memory
        images = _decode_in_memory(paths, resolution, base)
        _cache_save(cache_dir, key, images, labels, {"classes": list(classes), "source": str(base)})
    else:
        try:
            _commit_decoded(cache_dir, key, labels, {"classes": list(classes), "source": str(base)})
        except OSError as exc:  # the images are on disk but uncommitted: usable now, decoded again next time
            warnings.warn(f"could not write image cache in {cache_dir} ({exc}); continuing without it",
                          stacklevel=2)
    return _with_lossy(ImageSet(images, labels, classes, source), lossy)


def _progress_bar(total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=1.0,
                disable=total < _PROGRESS_MIN_FILES or os.environ.get("VQLIB_PROGRESS", "1") == "0")


def _size_error(base, first: str, shape, path: str, arr: np.ndarray) -> DataSourceError:
    return DataSourceError(
        f"Images in {base} differ in size: {first} is {shape[1]}x{shape[0]} but {path} is "
        f"{arr.shape[1]}x{arr.shape[0]}. Fix: pass resolution= to resize and centre-crop them to one square size."
    )


def _image_shape(path: pathlib.Path, resolution: int | None) -> tuple[int, int, int]:
    """The (H, W, 3) an image decodes to, read from its header (no pixel decode)."""
    if resolution is not None:
        return (resolution, resolution, 3)
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return _decode_image(path, resolution).shape  # raises the error that names the file
    return (height, width, 3)


def _decode_in_memory(paths: list[str], resolution: int | None, base: pathlib.Path) -> np.ndarray:
    images = None
    with _progress_bar(len(paths), f"decoding {base.name}", "img") as bar:
        for i, path in enumerate(paths):
            arr = _decode_image(pathlib.Path(path), resolution)
            if images is None:
                images = np.empty((len(paths), *arr.shape), dtype=np.uint8)  # preallocated: no 2x peak
            elif arr.shape != images.shape[1:]:
                raise _size_error(base, paths[0], images.shape[1:], path, arr)
            images[i] = arr
            bar.update()
    return images


def _decode_chunk(target: str, start: int, paths: list[str], resolution: int | None, shape: tuple) -> int:
    """Decode ``paths`` into rows ``start:`` of the memory-mapped ``target`` (runs in a worker process)."""
    out = np.load(target, mmap_mode="r+")
    for i, path in enumerate(paths):
        arr = _decode_image(pathlib.Path(path), resolution)
        if arr.shape != shape:
            raise _size_error(pathlib.Path(path).parent.parent, "the first image", shape, path, arr)
        out[start + i] = arr
    out.flush()  # on disk before the chunk is reported done
    del out
    return start


def _decode_workers(chunks: int) -> int:
    wanted = os.environ.get("VQLIB_DECODE_WORKERS")
    workers = int(wanted) if wanted else (os.cpu_count() or 1)
    return max(1, min(workers, chunks))


def _decode_folder(paths: list[str], resolution: int | None, base: pathlib.Path, cache_dir: pathlib.Path | None,
                   key: str | None) -> np.memmap | None:
    """Decode every file into ``<key>.images.npy`` under ``cache_dir``, in parallel worker processes.

    The images go into a memory-mapped ``.partial.npy`` file in chunks of ``_DECODE_CHUNK``; a small progress
    file lists the chunks already on disk, so a decode interrupted at image 90,000 of 127,000 continues from
    there. The partial file is only renamed to its final name when every chunk is done, and the entry counts
    as complete only once its commit marker is written after that (:func:`_commit_decoded`), so a killed
    decode never reads as a complete one. Returns None when there is no cache folder or it is not writable.
    """
    if cache_dir is None:
        return None
    images_path, _, _ = _cache_paths(cache_dir, key)
    partial = images_path.with_name(f"{key}.images.partial.npy")
    progress = images_path.with_name(f"{key}.images.progress")
    first_shape = _image_shape(pathlib.Path(paths[0]), resolution)
    shape = (len(paths), *first_shape)
    chunks = list(range(0, len(paths), _DECODE_CHUNK))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        done: set[int] = set()
        try:
            state = json.loads(progress.read_text())
            on_disk = np.load(partial, mmap_mode="r")
            if state.get("shape") == list(shape) and state.get("chunk") == _DECODE_CHUNK and on_disk.shape == shape:
                done = set(state["done"])
            del on_disk
        except (OSError, ValueError, KeyError, TypeError):
            pass  # nothing to resume from
        if not done:
            progress.unlink(missing_ok=True)
            np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape).flush()
    except OSError as exc:
        warnings.warn(f"could not write image cache in {cache_dir} ({exc}); decoding into memory", stacklevel=3)
        return None
    todo = [start for start in chunks if start not in done]
    if done:
        print(f"resuming the decode of {base}: {len(done)} of {len(chunks)} chunks already on disk", file=sys.stderr)

    def record(start: int) -> None:
        done.add(start)
        state = {"shape": list(shape), "chunk": _DECODE_CHUNK, "done": sorted(done)}
        try:
            atomic_write(progress, lambda f: f.write(json.dumps(state).encode()))
        except OSError:  # only resuming needs it: an interrupted decode would then start over
            pass

    jobs = [(str(partial), start, paths[start:start + _DECODE_CHUNK], resolution, first_shape) for start in todo]
    workers = _decode_workers(len(jobs))
    with _progress_bar(len(paths), f"decoding {base.name}", "img") as bar:
        bar.update(len(paths) - sum(len(job[2]) for job in jobs))
        if workers == 1:
            for job in jobs:
                record(_decode_chunk(*job))
                bar.update(len(job[2]))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # fork on Linux (as torch's DataLoader): workers need only Pillow and numpy, and spawn would
            # re-import a user's script that lacks a __main__ guard
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(_decode_chunk, *job): len(job[2]) for job in jobs}
                for future in as_completed(futures):
                    record(future.result())
                    bar.update(futures[future])
    try:
        os.replace(partial, images_path)
    except OSError as exc:
        warnings.warn(f"could not write image cache in {cache_dir} ({exc}); continuing without it", stacklevel=3)
        return np.load(partial, mmap_mode="r")
    progress.unlink(missing_ok=True)
    return np.load(images_path, mmap_mode="r")


def _commit_decoded(cache_dir: pathlib.Path, key: str, labels: np.ndarray, meta: dict) -> None:
    """Write the labels and then the commit marker of an entry whose images :func:`_decode_folder` wrote."""
    images_path, labels_path, meta_path = _cache_paths(cache_dir, key)
    shape = list(np.load(images_path, mmap_mode="r").shape)
    atomic_write(labels_path, lambda f: np.save(f, labels, allow_pickle=False))
    record = {**meta, "images_shape": shape}
    atomic_write(meta_path, lambda f: f.write(json.dumps(record, indent=1).encode()))


def _with_lossy(image_set: ImageSet, lossy: bool) -> ImageSet:
    if not lossy:
        return image_set
    return ImageSet(
        image_set.images,
        image_set.labels,
        image_set.classes,
        image_set.source + "; lossy JPEG/WebP files, pixel values may differ from the original release",
    )


# ---------------------------------------------------------------------------------------------------------
# CIFAR-10


def _check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")


def _take(image_set: ImageSet, limit: int | None) -> ImageSet:
    if limit is None or limit >= len(image_set):
        return image_set
    # a view: a memory-mapped cache entry stays memory-mapped
    return ImageSet(image_set.images[:limit], image_set.labels[:limit], image_set.classes, image_set.source)


def _interleave_classes(labels: np.ndarray) -> np.ndarray:
    """Order that takes the 1st image of every class, then the 2nd, ... (stable within a class).

    An ImageFolder lists all of one class before the next, so without this the first 1,000 CIFAR-10 images
    would all be airplanes and 500 images of ImageNet-100 would hold 10 classes; the official CIFAR-10
    batches are already shuffled.
    """
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return np.lexsort((labels, rank))


def _cifar10_from_image_folder(
    root: pathlib.Path, split: str, origin: str, cache_dir: pathlib.Path
) -> ImageSet:
    folder = load_image_folder(root, split, resolution=None, cache_dir=cache_dir)
    if folder.classes != CIFAR10_CLASSES:
        raise DataSourceError(
            f"{root / split} has class folders {list(folder.classes)}, expected the 10 CIFAR-10 classes "
            f"{list(CIFAR10_CLASSES)} (so that labels match the official indices). Fix: {_CIFAR10_FIX}."
        )
    if folder.images.shape[1:3] != (32, 32):
        raise DataSourceError(
            f"Images in {root / split} are {folder.images.shape[2]}x{folder.images.shape[1]}, "
            f"CIFAR-10 images are 32x32. Fix: {_CIFAR10_FIX}."
        )
    note = folder.source.split(";", 1)[1] if ";" in folder.source else ""
    return ImageSet(
        folder.images,
        folder.labels,
        CIFAR10_CLASSES,
        f"CIFAR-10 local ImageFolder copy at {root} ({origin}), split {split!r}, {len(folder)} images, "
        f"classes interleaved;{note}",
    )


def _cifar10_from_archive(path: pathlib.Path, split: str, cache_dir: pathlib.Path, origin: str) -> ImageSet:
    official = path.name == CIFAR10_ARCHIVE_NAME
    stat = path.stat()
    keys = {
        s: _cache_key(
            f"cifar10-{s}",
            {"archive": str(path.resolve()), "mtime": stat.st_mtime_ns, "size": stat.st_size, "split": s},
        )
        for s in _CIFAR10_SPLITS
    }
    if official:
        source = f"CIFAR-10 official python release ({path}, md5 verified) ({origin})"
    else:
        source = (
            f"CIFAR-10 python-format archive {path} ({origin}; md5 not checked because the file is not named "
            f"{CIFAR10_ARCHIVE_NAME})"
        )
    hit = _cache_load(cache_dir, keys[split])
    if hit is not None:
        # The md5 was checked when this cache entry was written; the key pins the file's size and mtime.
        return ImageSet(hit[0], hit[1], CIFAR10_CLASSES, source)
    if official:
        verify_md5(path, CIFAR10_MD5)
    decoded = read_cifar10_archive(path)
    for s, (images, labels) in decoded.items():  # one pass over the gzip gives both splits: cache both
        _cache_save(
            cache_dir, keys[s], images, labels, {"classes": list(CIFAR10_CLASSES), "source": str(path)}
        )
    return ImageSet(*decoded[split], CIFAR10_CLASSES, source)


def _cifar10_from_batch_dir(path: pathlib.Path, split: str, cache_dir: pathlib.Path, origin: str) -> ImageSet:
    names = {"train": _CIFAR10_TRAIN_BATCHES, "test": _CIFAR10_TEST_BATCHES}[split]
    stats = [
        (n, (path / n).stat().st_size, (path / n).stat().st_mtime_ns)
        for n in (*names, "batches.meta")
        if (path / n).is_file()
    ]
    key = _cache_key(f"cifar10-{split}", {"batch_dir": str(path.resolve()), "files": stats, "split": split})
    source = f"CIFAR-10 extracted official python batches at {path} ({origin})"
    hit = _cache_load(cache_dir, key)
    if hit is not None:
        return ImageSet(hit[0], hit[1], CIFAR10_CLASSES, source)
    images, labels = _read_cifar10_batch_dir(path, split)
    _cache_save(cache_dir, key, images, labels, {"classes": list(CIFAR10_CLASSES), "source": str(path)})
    return ImageSet(images, labels, CIFAR10_CLASSES, source)


def _cifar10_from_root(root: pathlib.Path, split: str, origin: str, cache_dir: pathlib.Path) -> ImageSet:
    if not root.exists():
        raise DataSourceError(f"CIFAR-10 root {root} (from {origin}) does not exist. Fix: {_CIFAR10_FIX}.")
    if root.is_file():
        return _cifar10_from_archive(root, split, cache_dir, origin)
    if (root / "train").is_dir() or (root / "test").is_dir():
        if not (root / split).is_dir():
            raise DataSourceError(
                f"CIFAR-10 ImageFolder root {root} (from {origin}) has no {split}/ folder. "
                f"Fix: {_CIFAR10_FIX}."
            )
        return _cifar10_from_image_folder(root, split, origin, cache_dir)
    if (root / CIFAR10_ARCHIVE_NAME).is_file():
        return _cifar10_from_archive(root / CIFAR10_ARCHIVE_NAME, split, cache_dir, origin)
    for batch_dir in (root / CIFAR10_BATCH_DIR, root):
        if (batch_dir / "batches.meta").is_file():
            return _cifar10_from_batch_dir(batch_dir, split, cache_dir, origin)
    raise DataSourceError(
        f"CIFAR-10 root {root} (from {origin}) is not a recognised layout: it has no train/ or test/ folder, "
        f"no {CIFAR10_ARCHIVE_NAME} and no {CIFAR10_BATCH_DIR}/. Fix: {_CIFAR10_FIX}."
    )


def load_cifar10(
    split: str = "train",
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    limit: int | None = None,
) -> ImageSet:
    """Load a CIFAR-10 split as uint8 (N, 32, 32, 3) images with int64 labels.

    Source order: ``root`` (or ``$VQLIB_CIFAR10``) - an ImageFolder root ``<root>/{train,test}/<class>/*``,
    the official tarball or a folder holding it, or the extracted ``cifar-10-batches-py/``; otherwise
    ``<data_dir>/cifar-10-python.tar.gz``, downloaded there first when ``download`` is True. ``data_dir``
    defaults to :func:`default_data_dir`; decoded arrays are cached in ``<data_dir>/cache``. ``limit`` keeps
    the first ``limit`` images (ImageFolder copies are ordered class-interleaved so that prefix is balanced).
    """
    if split not in _CIFAR10_SPLITS:
        raise ValueError(f"split must be one of {_CIFAR10_SPLITS}, got {split!r}")
    _check_limit(limit)
    data_dir = pathlib.Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    cache_dir = data_dir / "cache"

    if root is not None:
        origin = "root argument"
    elif os.environ.get("VQLIB_CIFAR10"):
        root, origin = os.environ["VQLIB_CIFAR10"], "VQLIB_CIFAR10"
    if root is not None:
        return _take(_cifar10_from_root(pathlib.Path(root).expanduser(), split, origin, cache_dir), limit)

    archive = data_dir / CIFAR10_ARCHIVE_NAME
    if not archive.is_file():
        if not download:
            raise DataSourceError(
                f"No CIFAR-10 source: {archive} does not exist and download=False. Fix: {_CIFAR10_FIX}, "
                "or call with download=True."
            )
        print(
            f"Downloading CIFAR-10 from {CIFAR10_URL} to {archive} (170 MB)...", file=sys.stderr, flush=True
        )
        try:
            _download(CIFAR10_URL, archive, CIFAR10_MD5)
        except (urllib.error.URLError, OSError) as exc:  # URLError, timeouts, DNS, disk errors
            reason = getattr(exc, "reason", None) or exc
            raise DataSourceError(
                f"CIFAR-10 download from {CIFAR10_URL} to {archive} failed: {reason}. Fix: {_CIFAR10_FIX}; "
                f"or copy the official {CIFAR10_ARCHIVE_NAME} to {archive}."
            ) from exc
    return _take(_cifar10_from_archive(archive, split, cache_dir, "data_dir"), limit)


# ---------------------------------------------------------------------------------------------------------
# ImageNet


def load_imagenet(
    split: str = "val",
    root: str | os.PathLike | None = None,
    resolution: int = 64,
    limit_per_class: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    classes: Sequence[str] | None = None,
) -> ImageSet:
    """Load an ImageNet ImageFolder tree ``<root>/<split>/<wnid>/*.JPEG`` at ``resolution x resolution``.

    ``root`` defaults to ``$VQLIB_IMAGENET``; ImageNet has no public download, so one of them is required.
    ``classes`` keeps a subset of wnids (ImageNet-100 from a full ImageNet tree; :func:`read_class_list`).
    Decoded arrays are cached in ``cache_dir`` (default ``<default_data_dir()>/cache``).
    """
    if root is not None:
        origin = "root argument"
    elif os.environ.get("VQLIB_IMAGENET"):
        root, origin = os.environ["VQLIB_IMAGENET"], "VQLIB_IMAGENET"
    else:
        raise DataSourceError(
            "No ImageNet source: ImageNet cannot be downloaded automatically (it needs registration and "
            "accepting its terms at image-net.org). Fix: set VQLIB_IMAGENET to an ImageFolder root laid "
            "out as <root>/<split>/<wnid>/*.JPEG, or pass root=. The repository's Makefile unpacks an "
            "offline 1,000-image sample (one image per class, a stand-in for the real validation set) "
            "when ../shared/data/imagenet-sample-256.tar exists; point VQLIB_IMAGENET at the unpacked "
            "imagenet-sample-256 folder."
        )
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise DataSourceError(
            f"ImageNet root {root} (from {origin}) does not exist or is not a directory. Fix: point "
            "VQLIB_IMAGENET (or root=) at an ImageFolder root laid out as <root>/<split>/<wnid>/*.JPEG."
        )
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_data_dir() / "cache"
    folder = load_image_folder(
        root, split, resolution=resolution, limit_per_class=limit_per_class, cache_dir=cache_dir, classes=classes
    )
    note = folder.source.split(";", 1)[1] if ";" in folder.source else ""
    return ImageSet(
        folder.images,
        folder.labels,
        folder.classes,
        f"ImageNet ImageFolder at {root} (from {origin}), split {split!r}, {len(folder)} images, "
        f"{len(folder.classes)} classes, resized and centre-cropped to {resolution}x{resolution};{note}",
    )


def read_class_list(path: str | os.PathLike) -> tuple[str, ...]:
    """Class folder names from a text file, one per line (``#`` starts a comment), e.g. ImageNet-100's wnids."""
    path = pathlib.Path(path).expanduser()
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataSourceError(f"Cannot read the class list {path}: {exc}. Fix: pass an existing text file.") from exc
    names = tuple(name for line in lines if (name := line.split("#", 1)[0].strip()))
    if not names:
        raise DataSourceError(f"The class list {path} names no classes. Fix: one class folder name per line.")
    return names


# ---------------------------------------------------------------------------------------------------------
# Tensor helpers


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (or one HWC image) -> float32 NCHW (or CHW) in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    if x.dtype != torch.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"to_tensor expects uint8 (N, H, W, 3) or (H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.permute(2, 0, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.to(torch.float32).div(127.5).sub(1.0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float NCHW (or CHW) in [-1, 1] -> uint8 NHWC (or HWC) numpy array; values outside are clipped."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"to_uint8 expects (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    y = x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)
    y = y.permute(1, 2, 0) if y.ndim == 3 else y.permute(0, 2, 3, 1)
    return np.ascontiguousarray(y.cpu().numpy())
