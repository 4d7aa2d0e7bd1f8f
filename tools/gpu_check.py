"""``make gpu-check``: run the paper-scale code path briefly, measure it, project the paper scale's wall time.

Trains the ``gpu`` scale's cases (full CIFAR-10 at K = 1,024 and 16,384, early vs deferred; one 128 x 128
ImageNet run at K = 16,384, when an ImageNet root is set; the paper's mixture) for a few thousand steps, and
prints per case: training steps per second, the time of one whole-set evaluation, peak GPU memory. From
those it projects the wall time of ``make figures SCALE=paper`` per notebook: every paper-scale training run a
notebook asks for (runs an earlier notebook made come from the cache), each costed at the rate of the measured
case closest to it (same data, nearest K). Token priors and sampling (notebook 04's second half) are not
projected.

``--steps N`` overrides the step count (``--cpu --steps 2 --codebook-sizes 32 ...`` is the CI-sized form: the
same code path on the CPU, slowly). Runs are not cached: this measures, it does not produce results.

    python tools/gpu_check.py [--steps N] [--cpu] [--eval-images N] [--cifar-images N] [--codebook-sizes K ...]

A tool, not part of the library: it measures the study layer's specs (:mod:`vqlib.studies`), which the
library's modules never import. ``make gpu-check GPU_CHECK_ARGS="--steps 500"`` passes arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's vqlib, installed or not
# First: importing vqlib pins the instruction set (vqlib.arithmetic) before torch and numpy load, as
# `python -m vqlib...` would.
import vqlib  # noqa: E402, F401

# isort: split
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from vqlib import accel  # noqa: E402
from vqlib.data import prepare  # noqa: E402
from vqlib.experiments import RunSpec, device, initial_model  # noqa: E402
from vqlib.imageset import DataSourceError  # noqa: E402
from vqlib.scales import get_scale  # noqa: E402
from vqlib.studies import ARMS, settings  # noqa: E402
from vqlib.studies.context import Context, context  # noqa: E402
from vqlib.studies.registry import notebook_specs  # noqa: E402
from vqlib.train import TrainSpec, evaluate, train  # noqa: E402

__all__ = ["measure", "project", "run_seconds", "notebook_specs", "main"]


def _cases(steps: int | None, eval_images: int | None, cifar_images: int | None,
           codebook_sizes: list[int] | None = None) -> list[tuple[str, RunSpec]]:
    s = get_scale("gpu")
    if codebook_sizes:
        s = dataclasses.replace(s, image_codebook_sizes=tuple(codebook_sizes),
                                imagenet_codebook_size=max(codebook_sizes))
    ctx = Context(s)
    image_train = settings.image_train(ctx)
    if steps is not None:
        image_train = dataclasses.replace(image_train, steps=steps, eval_every=steps)
    cifar = settings.cifar_base(ctx, train=image_train)
    cifar = dataclasses.replace(cifar, data=dataclasses.replace(cifar.data, train_images=cifar_images,
                                                                 eval_images=eval_images or cifar.data.eval_images))
    cases = []
    for k in s.image_codebook_sizes:
        sized = dataclasses.replace(cifar, model=dataclasses.replace(cifar.model, num_codes=k))
        cases += [(f"CIFAR-10 K={k} {a}", ARMS[a](sized)) for a in ("early_kmeans", "deferred")]
    imagenet = settings.imagenet_base(ctx, train=image_train)
    imagenet = dataclasses.replace(imagenet, data=dataclasses.replace(
        imagenet.data, eval_images=eval_images or imagenet.data.eval_images))
    cases.append((f"ImageNet {imagenet.data.resolution}px K={imagenet.model.num_codes} deferred",
                  ARMS["deferred"](imagenet)))
    mix = settings.mixture_base(ctx)
    mix_steps = steps if steps is not None else 2000
    cases.append(("mixture D=8 deferred", ARMS["deferred"](dataclasses.replace(
        mix, train=dataclasses.replace(mix.train, steps=mix_steps, eval_every=mix_steps)))))
    return cases


def measure(spec: RunSpec) -> dict:
    """Train ``spec`` (uncached) and time it: steps/s of training alone, seconds per evaluation, peak memory."""
    data = prepare(spec.data)
    where = device()
    model = accel.prepare_model(initial_model(spec), where)
    accel.reset_peak_memory(where)
    start = time.perf_counter()
    history = train(model, data, spec.train, seed=spec.seed, progress=True, description="gpu-check")
    accel.synchronize(where)
    total = time.perf_counter() - start
    eval_start = time.perf_counter()
    evaluate(model, data, spec.train.eval_batch_size)
    accel.synchronize(where)
    eval_seconds = time.perf_counter() - eval_start
    train_seconds = max(total - len(history) * eval_seconds, 1e-9)
    peak = accel.peak_memory(where)
    return {"steps": spec.train.steps, "steps_per_s": spec.train.steps / train_seconds,
            "eval_s": eval_seconds, "peak_gib": peak / 2**30 if peak is not None else math.nan,
            "train_images": data.num_train, "eval_images": data.num_eval, "K": spec.model.num_codes,
            "final_perplexity": history["perplexity"].iloc[-1]}


def _evaluations(train_spec: TrainSpec) -> int:
    points = {0, train_spec.steps, *range(0, train_spec.steps, train_spec.eval_every)}
    if train_spec.quantize_from > 0:
        points.add(train_spec.quantize_from)
    return len(points)


def run_seconds(spec: RunSpec, measured: pd.DataFrame) -> float:
    """Projected seconds of one run: its steps at the rate of the measured case of the same data with the nearest
    K (in log K), plus its evaluations at the measured evaluation time, scaled by evaluation-set size."""
    kind = "mixture" if spec.model.kind == "mlp" else spec.data.name
    same = measured[measured.kind == kind]
    if same.empty:
        return math.nan
    nearest = same.iloc[(same.K.map(math.log2) - math.log2(spec.model.num_codes)).abs().argsort().iloc[0]]
    eval_inputs = getattr(spec.data, "eval_images", None) or nearest.eval_images
    return (spec.train.steps / nearest.steps_per_s
            + _evaluations(spec.train) * nearest.eval_s * eval_inputs / nearest.eval_images)


def project(measured: pd.DataFrame, scale="paper") -> pd.DataFrame:
    """Projected hours per notebook at ``scale``: each run a notebook asks for that no earlier notebook made."""
    done: set = set()
    rows = []
    # ImageNet's runs are costed too: the context names a root so that the studies list them (it is never read)
    for notebook, specs in notebook_specs(context(scale, imagenet_root="ImageNet")).items():
        new = [spec for spec in dict.fromkeys(specs) if spec not in done]
        done.update(new)
        hours = sum(run_seconds(spec, measured) for spec in new) / 3600
        rows.append({"notebook": notebook, "new training runs": len(new), "projected hours": hours})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps per case (default: the gpu scale's)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (the CI-sized check of the code path)")
    parser.add_argument("--eval-images", type=int, default=None, help="evaluation images (default: the scale's)")
    parser.add_argument("--cifar-images", type=int, default=None, help="CIFAR-10 training images (default: all)")
    parser.add_argument("--codebook-sizes", type=int, nargs="+", default=None,
                        help="image codebook sizes K (default: the gpu scale's 1024 16384; ImageNet takes the largest)")
    args = parser.parse_args(argv)
    if args.cpu:
        import os

        os.environ["VQLIB_DEVICE"] = "cpu"
    where = device()
    name = torch.cuda.get_device_name(where) if where.type == "cuda" else "CPU"
    print(f"gpu-check on {where} ({name}), torch {torch.__version__}, bf16 autocast: {accel.uses_bf16(where)}")
    rows = []
    for label, spec in _cases(args.steps, args.eval_images, args.cifar_images, args.codebook_sizes):
        try:
            result = measure(spec)
        except DataSourceError as error:
            print(f"skipped {label}: {str(error).splitlines()[0][:160]}")
            continue
        kind = "mixture" if spec.model.kind == "mlp" else spec.data.name
        rows.append({"case": label, "kind": kind, **result})
        memory = "n/a" if math.isnan(result["peak_gib"]) else f"{result['peak_gib']:.2f} GiB"
        print(f"{label}: {result['steps_per_s']:.2f} steps/s, evaluation {result['eval_s']:.2f} s "
              f"({result['eval_images']} inputs), peak GPU memory {memory}", flush=True)
    if not rows:
        print("nothing could be measured (no data); see the messages above")
        return 1
    measured = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nmeasured:\n" + measured.drop(columns="kind").to_string(index=False, float_format="%.3g"))
        projection = project(measured)
        print(f"\nprojected wall time of make figures SCALE=paper on this device ({name}); token priors and "
              "sampling of notebook 04 not included:\n" + projection.to_string(index=False, float_format="%.1f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
