"""Forward + backward of vqlib's VQ layer against vector_quantize_pytorch.VectorQuantize.

    make bench            (or: python benchmarks/bench_vq.py --repeats 5)

Setting, identical for both: N = 65,536 vectors of d = 64 (e.g. a batch of 16 images with 64x64 latent
grids), K in {512, 1024, 8192}, training mode, EMA codebook updates with decay 0.99, commitment weight
0.25, no k-means initialization, float32 on the CPU. One step = quantize, add the VQ loss to the sum of the
quantized output, backward. Each (implementation, K) runs in its own process, so that peak memory (the
growth of the process's maximum resident set over the steps, input excluded) is not polluted by the other runs.
Prints medians over the repeats after one warm-up step, and the ratio peer / vqlib (> 1: vqlib faster).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

N, D = 65_536, 64
SIZES = (512, 1024, 8192)


def measure(impl: str, k: int, repeats: int) -> dict:
    import torch

    torch.manual_seed(0)
    x = torch.randn(N, D)
    if impl == "vqlib":
        from vqlib.quantize import VectorQuantizer

        layer = VectorQuantizer(k, D, beta=0.25, ema=True, decay=0.99).train()

        def step():
            z = x.detach().requires_grad_(True)
            out = layer(z)
            (out.quantized.sum() + out.loss).backward()
    else:
        from vector_quantize_pytorch import VectorQuantize

        layer = VectorQuantize(dim=D, codebook_size=k, decay=0.99, commitment_weight=0.25, kmeans_init=False).train()
        xb = x.unsqueeze(0)

        def step():
            z = xb.detach().requires_grad_(True)
            quantized, _, loss = layer(z)
            (quantized.sum() + loss.sum()).backward()

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # warm-up (allocator, lazy initialization); counts towards the peak
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"impl": impl, "k": k, "median_s": statistics.median(times), "min_s": min(times),
            "peak_growth_mb": max(peak - base, 0) / 1024, "peak_rss_mb": peak / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description="VQ layer benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.repeats)))
        return 0

    import torch

    print(f"N={N}, d={D}, EMA decay 0.99, beta 0.25, float32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats (median)")
    rows = []
    for k in args.sizes:
        for impl in ("vqlib", "peer"):
            out = subprocess.run([sys.executable, __file__, "--child", impl, str(k), "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (f"{'K':>6} | {'vqlib s':>8} | {'peer s':>8} | {'peer/vqlib':>10} | {'vqlib peak MB':>13} | "
              f"{'peer peak MB':>12}")
    print(header)
    print("-" * len(header))
    for k in args.sizes:
        ours = next(r for r in rows if r["k"] == k and r["impl"] == "vqlib")
        peer = next(r for r in rows if r["k"] == k and r["impl"] == "peer")
        print(f"{k:>6} | {ours['median_s']:>8.3f} | {peer['median_s']:>8.3f} | "
              f"{peer['median_s'] / ours['median_s']:>10.2f} | {ours['peak_growth_mb']:>13.0f} | "
              f"{peer['peak_growth_mb']:>12.0f}")
    print("peer = vector_quantize_pytorch.VectorQuantize; peak MB = growth of max RSS over the steps (input excluded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
