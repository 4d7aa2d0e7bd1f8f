"""Peak process memory of a training run does not grow with the data set (``make bench-memory``).

Generates two ImageFolder trees of 128 x 128 JPEGs (2,000 and 20,000 training images, 500 evaluation images
each; kept under ``data/bench/`` for reruns), decodes each once into the memory-mapped cache, then trains the
same model on each in a fresh process and reports its peak *anonymous* resident memory: ``RssAnon`` of
``/proc/self/status`` sampled every 5 ms. Pages of the memory-mapped images are the OS's file cache
(``RssFile``), not the process's own memory, and are reported apart, as is ``VmHWM`` (peak of both).

    python benchmarks/bench_memory.py [--sizes 2000 20000] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVAL_IMAGES = 500


def _write_images(args) -> None:
    from PIL import Image

    folder, start, count, seed = args
    rng = np.random.default_rng(seed + start)
    for i in range(start, start + count):
        # smooth random images (an upsampled 8 x 8 grid): compress like photographs, unlike noise
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC)
        image.save(folder / f"{i % 10:02d}" / f"{i:06d}.jpg", quality=90)


def make_folder(root: Path, train_images: int) -> Path:
    """``root/train/<10 classes>/*.jpg`` with ``train_images`` images and ``root/val`` with EVAL_IMAGES."""
    done = root / ".complete"
    if done.exists():
        return root
    for split, count in (("train", train_images), ("val", EVAL_IMAGES)):
        for c in range(10):
            (root / split / f"{c:02d}").mkdir(parents=True, exist_ok=True)
        jobs = [(root / split, s, min(1000, count - s), 7) for s in range(0, count, 1000)]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_write_images, jobs))
    done.write_text("ok")
    return root


MEASURE = r"""
import json, sys, threading, time
import torch
torch.set_num_threads(max(1, torch.get_num_threads()))

def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    return fields

peak = {"RssAnon": 0}
stop = False

def sample():
    while not stop:
        peak["RssAnon"] = max(peak["RssAnon"], status()["RssAnon"])
        time.sleep(0.005)

from vqlib.data import ImageSpec, prepare
from vqlib.experiments import ModelSpec, RunSpec, run
from vqlib.train import TrainSpec

root, steps = sys.argv[1], int(sys.argv[2])
spec = RunSpec(ImageSpec("imagenet", resolution=128, train_images=None, eval_images=500, root=root),
               ModelSpec(kind="conv", num_codes=1024, latent_dim=32, channels=32, num_res_blocks=1,
                         num_downsamples=3),
               TrainSpec(steps=steps, batch_size=32, quantize_from=steps // 2, eval_every=steps,
                         eval_batch_size=100))
thread = threading.Thread(target=sample, daemon=True)
thread.start()
start = time.perf_counter()
data = prepare(spec.data)
result = run(spec, cache=False)
stop = True
thread.join()
end = status()
print(json.dumps({"train_images": data.num_train, "peak_rss_anon": peak["RssAnon"], "vm_hwm": end["VmHWM"],
                  "rss_file_at_end": end["RssFile"], "seconds": time.perf_counter() - start,
                  "train_bytes": int(data.train_data.nbytes)}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="peak process memory vs data set size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    env = {**os.environ, "VQLIB_PROGRESS": "0"}
    results = []
    for size in args.sizes:
        start = time.perf_counter()
        folder = make_folder(ROOT / "data" / "bench" / f"folder-{size}", size)
        made = time.perf_counter() - start
        # decode once (parallel workers, memory-mapped cache), in its own process, so the measured run reads
        # the cache like any later run does
        decode = "from vqlib.data import ImageSpec, prepare; prepare(ImageSpec('imagenet', resolution=128, " \
                 f"train_images=None, eval_images=500, root={str(folder)!r}))"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", decode], check=True, env=env)
        decoded = time.perf_counter() - start
        out = subprocess.run([sys.executable, "-c", MEASURE, str(folder), str(args.steps)], check=True, env=env,
                             capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row.update(generate_s=made, decode_s=decoded)
        results.append(row)
        print(f"{row['train_images']:>6} images ({row['train_bytes'] / 2**20:,.0f} MiB as uint8): peak anonymous "
              f"memory {row['peak_rss_anon'] / 2**20:,.0f} MiB; VmHWM {row['vm_hwm'] / 2**20:,.0f} MiB, file-backed "
              f"at the end {row['rss_file_at_end'] / 2**20:,.0f} MiB; decode {decoded:.0f} s, "
              f"run {row['seconds']:.0f} s", flush=True)
    if len(results) >= 2:
        small, large = results[0], results[-1]
        ratio = large["peak_rss_anon"] / small["peak_rss_anon"]
        print(f"peak anonymous memory, {large['train_images']} vs {small['train_images']} images: x{ratio:.3f} "
              f"({'within' if abs(ratio - 1) <= 0.10 else 'NOT within'} 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
