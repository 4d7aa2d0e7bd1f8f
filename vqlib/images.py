"""Where each image dataset is read from: :func:`load_cifar10` and :func:`load_imagenet`.

The library reads its image data itself (no torchvision) so that every experiment states exactly which
copy of the data it used: each loader returns an :class:`~vqlib.imageset.ImageSet` whose ``source`` string
names the file or folder, and where it came from (argument, environment variable, download). This module only
chooses; the readers are :mod:`vqlib.cifar10` (the official archive and its download) and
:mod:`vqlib.image_folder` (ImageFolder trees, decoded in parallel into a resumable cache). Decoded arrays are
cached as ``.npy`` files (:mod:`vqlib.imageset`), so a second load of the same source is fast.
"""

from __future__ import annotations

import os
import pathlib
import sys
import urllib.error
from collections.abc import Sequence

from . import cifar10, paths
from .cifar10 import (
    CIFAR10_ARCHIVE_NAME,
    CIFAR10_BATCH_DIR,
    CIFAR10_BATCHES,
    CIFAR10_CLASSES,
    CIFAR10_FIX,
    CIFAR10_MD5,
    CIFAR10_SPLITS,
    CIFAR10_URL,
)
from .image_folder import load_image_folder
from .imageset import DataSourceError, ImageSet, cache_key, cache_load, cache_save

__all__ = [
    "DataSourceError",
    "ImageSet",
    "default_data_dir",
    "load_cifar10",
    "load_imagenet",
    "read_class_list",
]


def default_data_dir() -> pathlib.Path:
    """``$VQLIB_DATA`` if set, else ``<repo root>/data`` (see :mod:`vqlib.paths`)."""
    return paths.data_dir()


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



def _cifar10_from_image_folder(
    root: pathlib.Path, split: str, origin: str, cache_dir: pathlib.Path
) -> ImageSet:
    folder = load_image_folder(root, split, resolution=None, cache_dir=cache_dir)
    if folder.classes != CIFAR10_CLASSES:
        raise DataSourceError(
            f"{root / split} has class folders {list(folder.classes)}, expected the 10 CIFAR-10 classes "
            f"{list(CIFAR10_CLASSES)} (so that labels match the official indices). Fix: {CIFAR10_FIX}."
        )
    if folder.images.shape[1:3] != (32, 32):
        raise DataSourceError(
            f"Images in {root / split} are {folder.images.shape[2]}x{folder.images.shape[1]}, "
            f"CIFAR-10 images are 32x32. Fix: {CIFAR10_FIX}."
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
        s: cache_key(
            f"cifar10-{s}",
            {"archive": str(path.resolve()), "mtime": stat.st_mtime_ns, "size": stat.st_size, "split": s},
        )
        for s in CIFAR10_SPLITS
    }
    if official:
        source = f"CIFAR-10 official python release ({path}, md5 verified) ({origin})"
    else:
        source = (
            f"CIFAR-10 python-format archive {path} ({origin}; md5 not checked because the file is not named "
            f"{CIFAR10_ARCHIVE_NAME})"
        )
    hit = cache_load(cache_dir, keys[split])
    if hit is not None:
        # The md5 was checked when this cache entry was written; the key pins the file's size and mtime.
        return ImageSet(hit[0], hit[1], CIFAR10_CLASSES, source)
    if official:
        cifar10.verify_md5(path, CIFAR10_MD5)
    decoded = cifar10.read_cifar10_archive(path)
    for s, (images, labels) in decoded.items():  # one pass over the gzip gives both splits: cache both
        cache_save(
            cache_dir, keys[s], images, labels, {"classes": list(CIFAR10_CLASSES), "source": str(path)}
        )
    return ImageSet(*decoded[split], CIFAR10_CLASSES, source)


def _cifar10_from_batch_dir(path: pathlib.Path, split: str, cache_dir: pathlib.Path, origin: str) -> ImageSet:
    names = CIFAR10_BATCHES[split]
    stats = [
        (n, (path / n).stat().st_size, (path / n).stat().st_mtime_ns)
        for n in (*names, "batches.meta")
        if (path / n).is_file()
    ]
    key = cache_key(f"cifar10-{split}", {"batch_dir": str(path.resolve()), "files": stats, "split": split})
    source = f"CIFAR-10 extracted official python batches at {path} ({origin})"
    hit = cache_load(cache_dir, key)
    if hit is not None:
        return ImageSet(hit[0], hit[1], CIFAR10_CLASSES, source)
    images, labels = cifar10.read_cifar10_batch_dir(path, split)
    cache_save(cache_dir, key, images, labels, {"classes": list(CIFAR10_CLASSES), "source": str(path)})
    return ImageSet(images, labels, CIFAR10_CLASSES, source)


def _cifar10_from_root(root: pathlib.Path, split: str, origin: str, cache_dir: pathlib.Path) -> ImageSet:
    if not root.exists():
        raise DataSourceError(f"CIFAR-10 root {root} (from {origin}) does not exist. Fix: {CIFAR10_FIX}.")
    if root.is_file():
        return _cifar10_from_archive(root, split, cache_dir, origin)
    if (root / "train").is_dir() or (root / "test").is_dir():
        if not (root / split).is_dir():
            raise DataSourceError(
                f"CIFAR-10 ImageFolder root {root} (from {origin}) has no {split}/ folder. "
                f"Fix: {CIFAR10_FIX}."
            )
        return _cifar10_from_image_folder(root, split, origin, cache_dir)
    if (root / CIFAR10_ARCHIVE_NAME).is_file():
        return _cifar10_from_archive(root / CIFAR10_ARCHIVE_NAME, split, cache_dir, origin)
    for batch_dir in (root / CIFAR10_BATCH_DIR, root):
        if (batch_dir / "batches.meta").is_file():
            return _cifar10_from_batch_dir(batch_dir, split, cache_dir, origin)
    raise DataSourceError(
        f"CIFAR-10 root {root} (from {origin}) is not a recognised layout: it has no train/ or test/ folder, "
        f"no {CIFAR10_ARCHIVE_NAME} and no {CIFAR10_BATCH_DIR}/. Fix: {CIFAR10_FIX}."
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
    if split not in CIFAR10_SPLITS:
        raise ValueError(f"split must be one of {CIFAR10_SPLITS}, got {split!r}")
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
                f"No CIFAR-10 source: {archive} does not exist and download=False. Fix: {CIFAR10_FIX}, "
                "or call with download=True."
            )
        print(
            f"Downloading CIFAR-10 from {CIFAR10_URL} to {archive} (170 MB)...", file=sys.stderr, flush=True
        )
        try:
            cifar10.download(CIFAR10_URL, archive, CIFAR10_MD5)
        except (urllib.error.URLError, OSError) as exc:  # URLError, timeouts, DNS, disk errors
            reason = getattr(exc, "reason", None) or exc
            raise DataSourceError(
                f"CIFAR-10 download from {CIFAR10_URL} to {archive} failed: {reason}. Fix: {CIFAR10_FIX}; "
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
