"""One artifact store for everything vqlib computes once and reuses: training runs, token priors,
feature classifiers, generation measures.

An entry is addressed by a *payload*: plain data (dicts, lists, strings, numbers) that says everything the
result depends on - the full spec with every default written out, the identity of the data (a content
checksum, never an absolute path or a display string), and :data:`SCHEMA_VERSION`. Its key is the sha256 of
the payload's canonical JSON; the entry stores the payload beside the value, and a load checks both the
schema version and the payload, so a key collision or a hand-copied file cannot serve the wrong result.

What the payload cannot see is the code. :data:`SCHEMA_VERSION` stands for it: bump it whenever a change to
the training, metric or generation code changes the numbers. A golden test (``tests/test_cache.py``) hashes
a tiny run of every cached kind and fails, naming the fix, when the numbers change without a bump.

Writes go to a temporary file in the same folder that is renamed into place (:func:`atomic_write`), so an
interrupted run never leaves a partial entry. An entry that is truncated or unreadable anyway (a full disk,
a copy gone wrong) is reported with a warning, removed and recomputed.

Entries live under :func:`vqlib.paths.cache_dir` (``VQLIB_CACHE``, default ``data/cache/runs``) as
``<kind>-<key>.pt``. ``force=True`` or ``VQLIB_FORCE=1`` recomputes and overwrites.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from . import paths, versions
from .executors import computing

__all__ = ["SCHEMA_VERSION", "KINDS", "atomic_write", "canonical", "digest", "entry_key", "entry_path", "load",
           "save", "cached", "has", "force_requested", "spec_payload"]

#: Bump when a code change alters any cached number (the golden fingerprint test says when).
#: 3: every computation runs with VQLIB_RUN_THREADS threads (default 1); fused Adam; streaming evaluation.
SCHEMA_VERSION = 3

#: What the store holds; one file name prefix per kind ("view": costly pictures of a trained model, e.g. t-SNE).
KINDS = ("run", "prior", "classifier", "generation", "view")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(file)`` on a hidden temporary file beside ``path`` and rename it into place.

    Readers never see a partial file: until the rename ``path`` is absent (or its old version). On any
    failure, Ctrl-C included, the temporary file is removed. Not ``tempfile.mkstemp``: its 0600 mode would
    make shared cache files unreadable to others; ``open(.., "xb")`` honours the umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def canonical(payload: Any) -> str:
    """The payload as canonical JSON (sorted keys, no whitespace); raises TypeError for non-plain data."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except TypeError as error:
        raise TypeError(f"a cache payload must be plain data (dict, list, str, number, bool, None): {error}") from error


def digest(*arrays: torch.Tensor | np.ndarray) -> str:
    """sha256 (first 24 hex digits) of the shapes, dtypes and bytes of tensors or arrays: a content checksum."""
    h = hashlib.sha256()
    for array in arrays:
        a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:24]


def spec_payload(spec: Any) -> Any:
    """A (nested) frozen dataclass spec as plain data with *every* field, defaults included, and its type
    name, so that changing a default changes the key. Fields marked ``metadata={"key": False}`` (where to
    read data, not what the data is) are left out. A field added after entries were written is marked
    ``metadata={"absent": value}``, the value that reproduces the behaviour from before it existed: it is left
    out only while it holds exactly that value (whatever its default), so older entries still match."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        out = {"_type": type(spec).__name__}
        for f in dataclasses.fields(spec):
            value = getattr(spec, f.name)
            if not f.metadata.get("key", True) or ("absent" in f.metadata and value == f.metadata["absent"]):
                continue
            out[f.name] = spec_payload(value)
        return out
    if isinstance(spec, (list, tuple)):
        return [spec_payload(v) for v in spec]
    if isinstance(spec, dict):
        return {str(k): spec_payload(v) for k, v in spec.items()}
    return spec


def entry_key(kind: str, payload: Any) -> str:
    """sha256 of (kind, schema version, canonical payload), 24 hex digits."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; choose one of {KINDS}")
    blob = canonical({"kind": kind, "schema": SCHEMA_VERSION, "payload": payload})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def entry_path(kind: str, payload: Any) -> Path:
    return paths.cache_dir() / f"{kind}-{entry_key(kind, payload)}.pt"


def force_requested(force: bool | None = None) -> bool:
    """``force`` if given, else whether the environment variable VQLIB_FORCE is 1."""
    return force if force is not None else os.environ.get("VQLIB_FORCE", "0") == "1"


def load(kind: str, payload: Any) -> Any | None:
    """The stored value for ``payload``, or None when there is none or it cannot be trusted.

    An unreadable or truncated file, or one whose stored schema or payload differs from the request, is
    reported with a warning and removed, so the caller recomputes it.
    """
    path = entry_path(kind, payload)
    if not path.exists():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=False)
        problem = None
        if not isinstance(entry, dict) or "value" not in entry:
            problem = "it is not a vqlib cache entry"
        elif entry.get("schema") != SCHEMA_VERSION:
            problem = f"it was written under schema {entry.get('schema')}, this code is schema {SCHEMA_VERSION}"
        elif entry.get("payload") != canonical(payload):
            problem = "its stored spec differs from the requested one"
    except Exception as error:  # any failure to read means the entry is unusable: recompute it
        problem = f"it cannot be read ({type(error).__name__}: {error})"
    if problem is not None:
        warnings.warn(f"cache entry {path} is not used and will be recomputed: {problem}", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    versions.warn_if_different(entry.get("versions"), f"cached {kind} {path.name}")
    return entry["value"]


def save(kind: str, payload: Any, value: Any) -> Path:
    """Store ``value`` (anything ``torch.save`` takes) for ``payload``, atomically. Returns the entry's path."""
    path = entry_path(kind, payload)
    entry = {"kind": kind, "schema": SCHEMA_VERSION, "payload": canonical(payload), "value": value,
             "versions": versions.current()}
    atomic_write(path, lambda f: torch.save(entry, f))
    return path


def cached(kind: str, payload: Any, compute: Callable[[], Any], force: bool | None = None,
           enabled: bool = True) -> tuple[Any, bool]:
    """``(value, True)`` from the store, or ``(compute(), False)`` after storing it.

    ``enabled=False`` computes without reading or writing the store; ``force`` (or VQLIB_FORCE=1)
    recomputes and overwrites.
    """
    if enabled and not force_requested(force):
        value = load(kind, payload)
        if value is not None:
            return value, True
    with computing():  # a fixed thread count: the same numbers whichever process computes the entry
        value = compute()
    if enabled:
        save(kind, payload, value)
    return value, False


def has(kind: str, payload: Any) -> bool:
    """Whether an entry for ``payload`` exists (it is checked when loaded, not here)."""
    return entry_path(kind, payload).exists()
