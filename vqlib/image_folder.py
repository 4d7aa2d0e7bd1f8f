"""ImageFolder trees (``<root>/<class>/<image files>``) decoded to uint8 arrays: listed in a fixed order, classes
interleaved so that every prefix spans all classes, optionally resized and centre-cropped, and decoded by
parallel worker processes into a memory-mapped cache entry (:mod:`vqlib.imageset`) that resumes after an
interruption.

Which folder a dataset is read from (``VQLIB_CIFAR10``, ``VQLIB_IMAGENET``, ``root=``) is chosen by
:mod:`vqlib.images`.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cache import atomic_write
from .imageset import DataSourceError, ImageSet, cache_commit, cache_key, cache_load, cache_paths, cache_save

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp"})
_LOSSY_EXTENSIONS = frozenset({".jpg", ".jpeg", ".webp"})
# Below this many files decoding takes well under a second and a progress bar is just noise.
_PROGRESS_MIN_FILES = 2000
# Images per unit of work of the parallel decode (and of its resume bookkeeping).
_DECODE_CHUNK = 512


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


def _refuse_empty_classes(base: pathlib.Path, classes: tuple[str, ...], files: list[list[str]]) -> None:
    """A class folder without image files is an error, before anything is decoded: a broken copy (an extraction
    that stopped, a sync that skipped folders; ImageNet-100 copied from a full tree) looks exactly like that,
    and reading it anyway would train and evaluate without those classes, under the same labels."""
    empty = [c for c, f in zip(classes, files, strict=True) if not f]
    if not empty:
        return
    shown = ", ".join(str(base / c) for c in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    everything = len(empty) == len(classes)
    raise DataSourceError(
        f"No image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in "
        f"{'any' if everything else f'{len(empty)} of the {len(classes)}'} class folder(s) of {base}: {shown}. "
        "Every class folder must hold its images; an empty one means the copy is incomplete. Fix: copy or "
        f"extract the images of {'those classes' if len(empty) > 1 else 'that class'} into "
        f"{'them' if len(empty) > 1 else 'it'} again; or, if a class is not wanted, delete its folder "
        "(or leave it out with classes=)."
    )


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
    labels are then the positions in the sorted subset. A kept class folder without image files is an error
    (:class:`~vqlib.imageset.DataSourceError` naming it), raised before anything is decoded.

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
    _refuse_empty_classes(base, classes, files)
    if limit_per_class is not None:
        files = [f[:limit_per_class] for f in files]
    n = sum(len(f) for f in files)
    lossy = any(os.path.splitext(name)[1].lower() in _LOSSY_EXTENSIONS for f in files for name in f)
    source = f"ImageFolder at {base} ({n} images, {len(classes)} classes)"

    cache_dir = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else None
    key = None
    if cache_dir is not None:
        # Folder mtimes change when files are added, removed or renamed; together with the counts this
        # catches every change short of rewriting a file in place.
        key = cache_key(
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
        hit = cache_load(cache_dir, key)
        if hit is not None and tuple(hit[2].get("classes", ())) == classes:
            return _with_lossy(ImageSet(hit[0], hit[1], classes, source), lossy)

    labels = np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f in enumerate(files)])
    paths = [str(base / c / name) for c, f in zip(classes, files, strict=True) for name in f]
    order = _interleave_classes(labels)
    labels, paths = labels[order], [paths[i] for i in order]
    images = _decode_folder(paths, resolution, base, cache_dir, key)
    if images is None:  # no cache folder, or it cannot be written: decode into memory
        images = _decode_in_memory(paths, resolution, base)
        cache_save(cache_dir, key, images, labels, {"classes": list(classes), "source": str(base)})
    else:
        try:
            cache_commit(cache_dir, key, labels, {"classes": list(classes), "source": str(base)})
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
    as complete only once its commit marker is written after that (:func:`vqlib.imageset.cache_commit`), so a
    killed decode never reads as a complete one. Returns None when there is no cache folder or it is not writable.
    """
    if cache_dir is None:
        return None
    images_path, _, _ = cache_paths(cache_dir, key)
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


def _with_lossy(image_set: ImageSet, lossy: bool) -> ImageSet:
    if not lossy:
        return image_set
    return ImageSet(
        image_set.images,
        image_set.labels,
        image_set.classes,
        image_set.source + "; lossy JPEG/WebP files, pixel values may differ from the original release",
    )


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
