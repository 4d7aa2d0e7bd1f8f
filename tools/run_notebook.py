"""Execute one notebook with papermill at a scale, atomically, without run-to-run metadata noise, and only
when something it depends on changed.

    python tools/run_notebook.py notebooks/01_synthetic_gaussian_mixture.py --scale default [--force]

The jupytext percent script ``notebooks/NN_name.py`` is the reviewed source; it is executed as it stands
(its paired ``.ipynb`` is only where the outputs go). At the default scale the executed notebook replaces
``notebooks/NN_name.ipynb`` (the committed notebooks show their default-scale outputs); at other scales it
goes to ``build/notebooks/<scale>/``. The output is written to a temporary file first and moved into place
only when every cell succeeded, so an interrupted or failed run never leaves a half-executed notebook.
Papermill's timestamps and durations are stripped, so that an unchanged notebook diffs clean.

Rerun only what changed (the idea of ploomber, at the level of whole notebooks; the run cache does the
same for training runs): after a successful run a stamp under ``build/stamps/<scale>/`` records a key - a
hash of the notebook's source, the scale, every source file of vqlib and of this tool, the versions of the
packages that draw the numbers and pixels, and the settings that choose the data and the device - together
with a checksum of every file the run wrote (the executed notebook and the figures ``NN_*`` of its number).
The next call skips the notebook when the key is the same and every output is still there, unchanged. A
fresh clone has no stamps, so it runs everything; ``--force`` (``make figures FORCE=1``) or VQLIB_FORCE=1
runs it anyway.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # vqlib.paths, without importing torch
from vqlib import paths  # noqa: E402

#: packages whose versions can change the numbers or the pixels of a notebook's outputs
VERSIONED = ("torch", "numpy", "pandas", "matplotlib", "pillow", "scikit-learn", "vector-quantize-pytorch", "papermill",
             "jupytext", "ipykernel")
#: environment settings that choose the data, the device or the run cache's behaviour
SETTINGS = ("VQLIB_CIFAR10", "VQLIB_IMAGENET", "VQLIB_IMAGENET_CLASSES", "VQLIB_DEVICE", "VQLIB_PRECISION",
            "VQLIB_DATA", "VQLIB_FIGURES", "VQLIB_NATIVE_ARITHMETIC", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
            "MKL_CBWR", "OPENBLAS_CORETYPE")


def strip_volatile_metadata(path: Path, keep_injected: bool) -> None:
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("papermill", None)
    # jupytext's version and the .py's text format say nothing about the results
    nb.get("metadata", {}).get("jupytext", {}).pop("text_representation", None)
    if not keep_injected:
        # In the committed (default-scale) notebook the injected cell would pin scale = "default" and
        # override VQLIB_SCALE, so `VQLIB_SCALE=smoke pytest --nbval-lax` would run the default scale.
        nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for i, cell in enumerate(nb.get("cells", [])):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        cell["id"] = f"cell-{i:02d}"  # jupytext draws random ids: number the cells so reruns diff clean
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_key(source: Path, scale: str) -> str:
    """Everything a notebook's outputs depend on, hashed."""
    digest = hashlib.sha256()
    code = [source, Path(__file__).resolve(), *sorted((ROOT / "vqlib").rglob("*.py"))]
    for path in code:
        digest.update(f"{path.relative_to(ROOT)}\0{_sha256(path)}\0".encode())
    versions = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    settings = {name: os.environ.get(name) for name in SETTINGS}
    digest.update(json.dumps({"scale": scale, "versions": versions, "settings": settings}, sort_keys=True).encode())
    return digest.hexdigest()


def outputs(target: Path, source: Path, scale: str) -> list[Path]:
    """The executed notebook and every figure or table of the notebook's number (``NN_*``)."""
    prefix = source.name.split("_", 1)[0] + "_"
    figures = paths.figures_dir(scale)
    written = sorted(p for p in figures.glob(f"{prefix}*") if p.is_file()) if figures.is_dir() else []
    return [target, *written]


def _stamp_path(source: Path, scale: str) -> Path:
    return ROOT / "build" / "stamps" / scale / f"{source.stem}.json"


def unchanged(source: Path, target: Path, scale: str, key: str) -> bool:
    """Whether the last successful run had this key and left outputs that are all still as it wrote them."""
    try:
        stamp = json.loads(_stamp_path(source, scale).read_text())
    except (OSError, ValueError):
        return False
    recorded = stamp.get("outputs", {})
    if stamp.get("key") != key or not recorded:
        return False
    current = {_name(p): p for p in outputs(target, source, scale)}
    if set(current) != set(recorded):
        return False
    return all(_sha256(p) == recorded[name] for name, p in current.items())


def _name(path: Path) -> str:
    """An output's name in a stamp: relative to the repository, or absolute where VQLIB_FIGURES points outside."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_stamp(source: Path, target: Path, scale: str, key: str) -> None:
    record = {"key": key, "outputs": {_name(p): _sha256(p) for p in outputs(target, source, scale)}}
    stamp = _stamp_path(source, scale)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_name(f".{stamp.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, stamp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path, help="notebooks/NN_name.py (or its .ipynb: the .py beside it runs)")
    parser.add_argument("--scale", default=os.environ.get("VQLIB_SCALE", "default"))
    parser.add_argument("--force", action="store_true", help="run even when nothing it depends on changed")
    args = parser.parse_args()
    source = args.notebook.resolve().with_suffix(".py")
    if not source.exists():
        parser.error(f"{source} does not exist: notebooks are jupytext percent scripts paired with their .ipynb")
    paired = source.with_suffix(".ipynb")
    target = paired if args.scale == "default" else ROOT / "build" / "notebooks" / args.scale / paired.name
    key = run_key(source, args.scale)
    force = args.force or os.environ.get("VQLIB_FORCE", "0") == "1"
    if not force and unchanged(source, target, args.scale, key):
        print(f"== {source.name} at scale {args.scale}: nothing it depends on changed since its last run and its "
              "outputs are as that run left them; skipped (FORCE=1 reruns)", flush=True)
        return 0

    import jupytext
    import papermill

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_in = target.with_name(f".{target.stem}.input.ipynb")
    tmp_out = target.with_name(f".{target.stem}.running.ipynb")
    start = time.perf_counter()
    print(f"== {source.name} at scale {args.scale}", flush=True)
    try:
        jupytext.write(jupytext.read(source), tmp_in, fmt="ipynb")
        # The terminal shows papermill's cell-by-cell progress; the runs' own progress bars would only
        # clutter the saved notebook with timings, so the kernel runs without them.
        os.environ["VQLIB_PROGRESS"] = "0"
        # The kernel's own log (a warning that it talks over local TCP, on every start) is nothing a user can act
        # on: only its errors reach the terminal.
        papermill.execute_notebook(str(tmp_in), str(tmp_out), parameters={"scale": args.scale},
                                   cwd=str(source.parent), kernel_name="python3", progress_bar=True,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
        strip_volatile_metadata(tmp_out, keep_injected=target != paired)
        os.replace(tmp_out, target)
    finally:
        tmp_in.unlink(missing_ok=True)
        tmp_out.unlink(missing_ok=True)
    write_stamp(source, target, args.scale, key)
    print(f"== {source.name}: {time.perf_counter() - start:.1f} s -> {target.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
