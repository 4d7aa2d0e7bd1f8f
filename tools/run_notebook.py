"""Execute one notebook with papermill at a scale, atomically, without run-to-run metadata noise.

    python tools/run_notebook.py notebooks/01_synthetic_gaussian_mixture.ipynb --scale default

At the default scale the executed notebook replaces the source (the committed notebooks show their
default-scale outputs); at other scales it goes to build/notebooks/<scale>/. The output is written to a
temporary file first and moved into place only when every cell succeeded, so an interrupted or failed
run never leaves a half-executed notebook. Papermill's timestamps and durations are stripped, so that an
unchanged notebook diffs clean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent


def strip_volatile_metadata(path: Path, keep_injected: bool) -> None:
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("papermill", None)
    if not keep_injected:
        # In the committed (default-scale) notebook the injected cell would pin scale = "default" and
        # override VQLIB_SCALE, so `VQLIB_SCALE=smoke pytest --nbval-lax` would run the default scale.
        nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--scale", default=os.environ.get("VQLIB_SCALE", "default"))
    args = parser.parse_args()
    source = args.notebook.resolve()
    if args.scale == "default":
        target = source
    else:
        target = ROOT / "build" / "notebooks" / args.scale / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.running.ipynb")
    start = time.perf_counter()
    print(f"== {source.name} at scale {args.scale}", flush=True)
    try:
        # The terminal shows papermill's cell-by-cell progress; the runs' own progress bars would only
        # clutter the saved notebook with timings, so the kernel runs without them.
        os.environ["VQLIB_PROGRESS"] = "0"
        papermill.execute_notebook(str(source), str(tmp), parameters={"scale": args.scale},
                                   cwd=str(source.parent), kernel_name="python3", progress_bar=True)
        strip_volatile_metadata(tmp, keep_injected=target != source)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"== {source.name}: {time.perf_counter() - start:.1f} s -> {target.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
