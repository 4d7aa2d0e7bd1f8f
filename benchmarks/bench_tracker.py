"""The cost of vqlib.diagnose.UsageTracker.update against a training step of a small VQ autoencoder.

    python benchmarks/bench_tracker.py            (a few seconds; --device cuda on a GPU)

The model: vqlib's MLPAutoencoder (64-dim points, two hidden layers of 256, 64-dim latent, K = 1024 codes,
EMA codebook), batch of 4,096 points, so each step yields 4,096 indices. One training step = forward,
reconstruction + VQ loss, backward, Adam step. The tracker's update is timed on that step's indices, many times
over; on a GPU the clock is read after a synchronization at the end only, since the update itself never
waits for the device. Prints microseconds per step and per update and the update as a % of a step
(medians over repeats), on one CPU thread unless --threads says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vqlib.diagnose import UsageTracker
from vqlib.models import MLPAutoencoder, reconstruction_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--updates", type=int, default=2000, help="tracker updates per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)

    model = MLPAutoencoder(64, 64, 1024, depth=2, width=256, ema=True).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(args.batch, 64, device=device)

    def step() -> torch.Tensor:
        out = model(x)
        loss = reconstruction_loss(out.reconstruction, x) + out.vq_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return out.indices

    for _ in range(3):  # warm-up: allocator, lazy initialization
        indices = step()
    step_times = []
    for _ in range(args.steps):
        _sync(device)
        start = time.perf_counter()
        indices = step()
        _sync(device)
        step_times.append(time.perf_counter() - start)

    tracker = UsageTracker(1024)
    tracker.update(indices)  # warm-up (moves the counts to the device)
    update_times = []
    for _ in range(args.repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(args.updates):
            tracker.update(indices)
        _sync(device)
        update_times.append((time.perf_counter() - start) / args.updates)
    assert tracker.total == (1 + args.repeats * args.updates) * indices.numel()

    step_us, update_us = statistics.median(step_times) * 1e6, statistics.median(update_times) * 1e6
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch} "
          f"({indices.numel()} indices per update), K = 1024")
    print(f"training step: {step_us:,.0f} us (median of {args.steps})")
    print(f"tracker.update: {update_us:,.1f} us (median of {args.repeats} x {args.updates}) = "
          f"{100 * update_us / step_us:.2f} % of a step")


if __name__ == "__main__":
    main()
