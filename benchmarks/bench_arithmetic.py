"""Which instruction-set pins a result needs, and what they cost (``make bench-arithmetic``).

Each configuration runs in a fresh process (the libraries read their pins once, when they first compute):
all pins of :data:`vqlib.arithmetic.PINS`; each pin left out in turn; none (``VQLIB_NATIVE_ARITHMETIC=1``).
Each process computes the three kinds of arithmetic the studies do and prints a bitwise digest of every result:

- **mixture**: a notebook 01 run (MLP autoencoder, k-means, EMA; 300 steps): ATen's vectorized kernels and
  MKL's matrix products;
- **cifar**: a CIFAR-10-sized convolutional tokenizer on random images (40 steps at batch 64): oneDNN's
  convolutions, plus the above; its seconds per step are the speed cost;
- **prior**: notebook 04's token prior (a small transformer: softmax, layer norm, GELU; 60 steps) and its samples;
- **numpy**: notebook 04's Frechet distance (numpy's eigendecompositions, OpenBLAS) and a t-SNE map
  (scikit-learn; PCA start through scipy's OpenBLAS) of fixed random features.

A result "needs" a pin when leaving that pin out changes its digest. On a machine whose best instruction set
is AVX2 every configuration gives the same digests (there is nothing wider to pin away from); run it on an
AVX-512 machine. Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import hashlib, json, time
import vqlib  # sets the pins this process's environment leaves unset
import numpy as np
import torch
from vqlib import arithmetic, diversity
from vqlib.data import ImageSpec, MixtureSpec, Prepared, prepare
from vqlib.experiments import ModelSpec, RunSpec, build_model
from vqlib.train import TrainSpec, train

torch.set_num_threads(1)

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a.detach().numpy() if isinstance(a, torch.Tensor) else a).tobytes())
    return h.hexdigest()[:12]

def trained(spec, data):
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, spec.data)
    start = time.perf_counter()
    history = train(model, data, spec.train, seed=spec.seed, progress=False)
    seconds = time.perf_counter() - start
    # the weights and every evaluated metric (effective ranks and spreads go through torch.linalg: LAPACK)
    metrics = history.drop(columns=["wall_time"]).select_dtypes("number").to_numpy(float)
    return digest(*model.state_dict().values(), metrics), seconds

out = {"capability": arithmetic.capability()}
mix = RunSpec(MixtureSpec(num_components=10, points_per_component=200, dim=8), ModelSpec(num_codes=32, latent_dim=8),
              TrainSpec(steps=300, batch_size=512, quantize_from=100, eval_every=300), seed=0)
out["mixture"], _ = trained(mix, prepare(mix.data))

g = torch.Generator().manual_seed(0)  # random images in [-1, 1] stand in for CIFAR-10: the arithmetic is measured
images = Prepared(torch.rand(2048, 3, 32, 32, generator=g) * 2 - 1, torch.rand(256, 3, 32, 32, generator=g) * 2 - 1,
                  source="random", identity="random")
conv = RunSpec(ImageSpec("cifar10", resolution=32),
               ModelSpec(kind="conv", num_codes=256, latent_dim=32, channels=32, num_res_blocks=1),
               TrainSpec(steps=40, batch_size=64, quantize_from=10, eval_every=40, eval_batch_size=128), seed=0)
out["cifar"], seconds = trained(conv, images)
out["seconds_per_step"] = seconds / conv.train.steps

from vqlib.generate import PriorSpec, sample, train_prior
tokens = torch.randint(0, 64, (256, 4, 4), generator=torch.Generator().manual_seed(0))
prior, prior_history = train_prior(tokens, 64, PriorSpec(steps=60, batch_size=32, dim=32, depth=1, eval_every=60),
                                   progress=False, val_tokens=tokens[:64])
out["prior"] = digest(*prior.state_dict().values(), prior_history.drop(columns=["wall_time"]).to_numpy(float),
                      sample(prior, 16, seed=0))

g = torch.Generator().manual_seed(0)
a, b = torch.randn(2000, 64, generator=g), torch.randn(2000, 64, generator=g) * 1.1 + 0.1
from sklearn.manifold import TSNE
xy = TSNE(n_components=2, init="pca", random_state=0, perplexity=30).fit_transform(a[:500].double().numpy())
out["numpy"] = digest(np.array([diversity.frechet_distance(a, b)]), xy)
print("RESULT " + json.dumps(out))
"""


def configurations() -> dict[str, dict[str, str]]:
    from vqlib.arithmetic import NATIVE_SWITCH, PINS

    configs = {"all pins": dict(PINS)}
    for name in PINS:
        configs[f"all but {name}"] = {k: v for k, v in PINS.items() if k != name}
    configs["none (native)"] = {NATIVE_SWITCH: "1"}
    return configs


def measure(settings: dict[str, str]) -> dict:
    from vqlib.arithmetic import NATIVE_SWITCH, PINS

    env = {k: v for k, v in os.environ.items() if k not in PINS and k != NATIVE_SWITCH}
    env.update(settings)
    if NATIVE_SWITCH not in settings:
        env[NATIVE_SWITCH] = "1"  # only the pins named here: vqlib must not fill in the others
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    results = {name: measure(settings) for name, settings in configurations().items()}
    reference = results["all pins"]
    kinds = ("mixture", "cifar", "prior", "numpy")
    print(f"{'configuration':<34} {'torch kernels':<14} " + " ".join(f"{k:<14}" for k in kinds) + " s/step (cifar)")
    for name, r in results.items():
        marks = " ".join(f"{r[k] + (' ' if r[k] == reference[k] else '*'):<14}" for k in kinds)
        print(f"{name:<34} {r['capability']:<14} {marks} {r['seconds_per_step']:.4f}")
    print("* = differs from 'all pins' (that pin is needed for that kind of result)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
