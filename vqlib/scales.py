"""Named scales: the same code path at three sizes.

- ``smoke``: seconds per notebook on two CPU cores; what the notebook tests run;
- ``default``: what ``make figures`` runs on a laptop CPU (minutes per notebook);
- ``paper``: paper-sized runs for one GPU (hours): ImageNet-100 at 128 x 128 with 16 x 16 tokens and
  K = 16,384, channel width 64, the CIFAR-10 codebook sweep up to 2^14 (the README's paper-scale section
  lists what the paper does not specify and what was chosen);
- ``gpu``: a few minutes on one GPU through the paper-scale code path (``make gpu-check``), not a study.

A scale only changes sizes, step counts and seed counts, never which code runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = ["Scale", "SCALES", "get_scale"]


@dataclass(frozen=True)
class Scale:
    name: str
    seeds: int  # seeds per arm of the mixture's headline comparisons (baseline vs deferred and their arms)
    sweep_seeds: int  # seeds per point of every mixture sweep (capacity, init scale, K, phase diagram)
    # Gaussian-mixture studies
    mixture_steps: int
    mixture_batch: int
    mixture_eval_every: int
    mixture_points_per_component: int  # the paper's mixture uses 1,000
    sweep_points: int  # points per configuration in sweeps (capacity, scale, K)
    sweep_steps: int  # steps per configuration in sweeps (evaluated at the start, switch and end only)
    # image studies
    image_seeds: int  # seeds of the CIFAR-10 headline comparison (baseline vs deferred)
    image_sweep_seeds: int  # seeds of every other image arm and sweep point (ImageNet, K, capacity, T_c, ...)
    image_steps: int
    image_batch: int
    image_eval_every: int
    cifar_train_images: int | None  # None: the whole split
    eval_images: int
    imagenet_resolution: int
    image_codebook_sizes: tuple[int, ...]
    image_channels: int  # channel width of the image tokenizers (the paper's: 64)
    # the CIFAR-10 headline at a budget where the baseline has finished learning (notebook 02; chosen from the
    # long reference runs, which are its first seed): the whole training split, more held-out images
    converged_steps: int
    converged_eval_every: int
    converged_train_images: int | None  # None: the whole split
    converged_eval_images: int
    converged_large_k: int  # the large codebook of the headline (the paper's crossover is near 2^12)
    converged_large_k_seeds: int  # seeds per arm at that K (the K = 256 comparison has image_seeds)
    imagenet_codebook_size: int  # K of the ImageNet tokenizer (the paper's: 16,384)
    # token priors and generation (notebook 04)
    prior_steps: int
    prior_dim: int
    prior_depth: int
    generated_samples: int  # samples per prior for the diversity measures
    classifier_steps: int  # the small CIFAR-10 feature classifier
    # pictures
    tsne_points: int = 2000  # embeddings per t-SNE map (t-SNE's cost grows with the square of the points)


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", seeds=1, sweep_seeds=1, mixture_steps=60, mixture_batch=256, mixture_eval_every=30,
                   mixture_points_per_component=100, sweep_points=1000, sweep_steps=40, image_seeds=1,
                   image_sweep_seeds=1, image_steps=8,
                   image_batch=16, image_eval_every=4, cifar_train_images=256, eval_images=64, imagenet_resolution=32,
                   image_codebook_sizes=(16, 64), image_channels=32, converged_steps=16, converged_eval_every=8,
                   converged_train_images=256, converged_eval_images=64, converged_large_k=512,
                   converged_large_k_seeds=1,
                   imagenet_codebook_size=256, prior_steps=10, prior_dim=32, prior_depth=1,
                   generated_samples=32, classifier_steps=5, tsne_points=400),
    "default": Scale("default", seeds=5, sweep_seeds=3, mixture_steps=1500, mixture_batch=512, mixture_eval_every=100,
                     mixture_points_per_component=1000, sweep_points=5000, sweep_steps=700,
                     image_seeds=5, image_sweep_seeds=3, image_steps=600, image_batch=64,
                     image_eval_every=100, cifar_train_images=20000, eval_images=500, imagenet_resolution=64,
                     image_codebook_sizes=(64, 256, 1024, 4096), image_channels=32, converged_steps=12000,
                     converged_eval_every=250, converged_train_images=None, converged_eval_images=2000,
                     converged_large_k=4096, converged_large_k_seeds=2,
                     imagenet_codebook_size=256, prior_steps=600, prior_dim=64, prior_depth=2,
                     generated_samples=500, classifier_steps=400),
    "paper": Scale("paper", seeds=5, sweep_seeds=3, mixture_steps=10000, mixture_batch=1024, mixture_eval_every=250,
                   mixture_points_per_component=1000, sweep_points=10000, sweep_steps=5000,
                   image_seeds=5, image_sweep_seeds=3, image_steps=40000, image_batch=128,
                   image_eval_every=2000, cifar_train_images=None, eval_images=10000, imagenet_resolution=128,
                   image_codebook_sizes=(64, 256, 1024, 4096, 8192, 16384),
                   image_channels=64, converged_steps=40000, converged_eval_every=2000, converged_train_images=None,
                   converged_eval_images=10000, converged_large_k=16384, converged_large_k_seeds=3,
                   imagenet_codebook_size=16384, prior_steps=20000, prior_dim=256,
                   prior_depth=8, generated_samples=10000, classifier_steps=5000),
}


# make gpu-check: the paper-scale code path (full CIFAR-10, K up to 16,384, 128 px ImageNet, 10,000-image
# evaluation) at a few thousand steps; the notebooks are not run at it.
SCALES["gpu"] = dataclasses.replace(SCALES["paper"], name="gpu", seeds=1, sweep_seeds=1, image_seeds=1,
                                    image_sweep_seeds=1, image_steps=2000,
                                    image_eval_every=1000, image_codebook_sizes=(1024, 16384))


def get_scale(name: str | None = None) -> Scale:
    """The named scale; ``None`` reads the environment variable VQLIB_SCALE, else ``default``."""
    if name is None:
        name = os.environ.get("VQLIB_SCALE") or "default"
    if isinstance(name, Scale):
        return name
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {list(SCALES)} "
                         "(argument or environment variable VQLIB_SCALE)")
    return SCALES[name]
