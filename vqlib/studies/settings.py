"""The named base settings that more than one notebook uses, at a scale.

Notebooks never build these themselves: a notebook that reuses another's runs (03 reuses 01 and 02, 04
reuses 03) gets them from the cache only if it asks for exactly the same specs, so the specs live here,
once. Every choice below was made for speed on a CPU before any result was seen (notebooks' "Settings"
sections).
"""

from __future__ import annotations

import dataclasses
import os

from ..data import ImageSpec, MixtureSpec
from ..experiments import ModelSpec, RunSpec
from ..images import read_class_list
from ..scales import Scale, get_scale
from ..train import TrainSpec

__all__ = ["paper_mixture", "big_mixture", "SMALL_MIXTURE_MODEL", "BIG_MIXTURE_MODEL", "mixture_train",
           "mixture_sweep_train", "cifar", "imagenet", "CIFAR_MODEL", "IMAGENET_MODEL", "image_train",
           "image_sweep_train", "endpoints_only",
           "cifar_model", "imagenet_model", "mixture_base", "big_mixture_base", "cifar_base", "imagenet_base"]

#: K and d on the paper's 10-component mixture
SMALL_MIXTURE_MODEL = ModelSpec(num_codes=32, latent_dim=8)
#: K and d on the 64-component mixture in D = 32
BIG_MIXTURE_MODEL = ModelSpec(num_codes=256, latent_dim=16)
#: the CIFAR-10 tokenizer: 32 channels, one residual block, d = 32, K = 256, 32x32 -> 8x8 tokens
CIFAR_MODEL = ModelSpec(kind="conv", num_codes=256, latent_dim=32, channels=32, num_res_blocks=1, num_downsamples=2)
#: the ImageNet tokenizer: one more downsampling keeps an 8x8 token grid at 64x64 (16x16 at 128x128, the
#: paper's 256 tokens)
IMAGENET_MODEL = dataclasses.replace(CIFAR_MODEL, num_downsamples=3)


def _scale(scale: str | Scale | None) -> Scale:
    return get_scale(scale)


def paper_mixture(scale=None, dim: int = 8, points_per_component: int | None = None) -> MixtureSpec:
    """The paper's mixture: 10 Gaussians of equal spread and distinct means, in ``dim`` dimensions."""
    s = _scale(scale)
    return MixtureSpec(num_components=10, points_per_component=points_per_component or s.mixture_points_per_component,
                       dim=dim)


def big_mixture(scale=None) -> MixtureSpec:
    """64 components in D = 32, ``sweep_points`` points in all (the capacity and shrinkage studies)."""
    s = _scale(scale)
    return MixtureSpec(num_components=64, points_per_component=s.sweep_points // 64, dim=32)


def mixture_train(scale=None) -> TrainSpec:
    s = _scale(scale)
    return TrainSpec(steps=s.mixture_steps, batch_size=s.mixture_batch, eval_every=s.mixture_eval_every)


def mixture_sweep_train(scale=None) -> TrainSpec:
    """The sweeps' shorter budget, evaluated at the start, the switch and the end only."""
    s = _scale(scale)
    return TrainSpec(steps=s.sweep_steps, batch_size=s.mixture_batch, eval_every=s.sweep_steps)


def cifar(scale=None, root: str | None = None) -> ImageSpec:
    """CIFAR-10 at 32x32: ``cifar_train_images`` training images, ``eval_images`` held-out test images."""
    s = _scale(scale)
    return ImageSpec("cifar10", resolution=32, train_images=s.cifar_train_images, eval_images=s.eval_images,
                     root=root)


def imagenet(scale=None, root: str | None = None) -> ImageSpec:
    """ImageNet at ``imagenet_resolution`` with a margin of an eighth for random training crops.

    VQLIB_IMAGENET_CLASSES, a text file of wnids (one per line), keeps those classes of the root: ImageNet-100
    from a full ImageNet tree without changing code."""
    s = _scale(scale)
    class_list = os.environ.get("VQLIB_IMAGENET_CLASSES")
    return ImageSpec("imagenet", resolution=s.imagenet_resolution, train_images=None, eval_images=s.eval_images,
                     crop_margin=s.imagenet_resolution // 8, root=root,
                     classes=read_class_list(class_list) if class_list else None)


def image_train(scale=None) -> TrainSpec:
    s = _scale(scale)
    return TrainSpec(steps=s.image_steps, batch_size=s.image_batch, eval_every=s.image_eval_every,
                     eval_batch_size=256)


def image_sweep_train(scale=None) -> TrainSpec:
    return endpoints_only(image_train(scale))


def endpoints_only(train: TrainSpec) -> TrainSpec:
    """``train`` evaluated at the start, the switch and the end only (sweeps need no curves)."""
    return dataclasses.replace(train, eval_every=train.steps)


def mixture_base(scale=None, dim: int = 8, points_per_component: int | None = None, model: ModelSpec | None = None,
                 train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(paper_mixture(scale, dim, points_per_component), model or SMALL_MIXTURE_MODEL,
                   train or mixture_train(scale))


def big_mixture_base(scale=None, model: ModelSpec | None = None, train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(big_mixture(scale), model or BIG_MIXTURE_MODEL, train or mixture_train(scale))


def cifar_model(scale=None) -> ModelSpec:
    """:data:`CIFAR_MODEL` at the scale's channel width (the paper's 64 at the paper scale)."""
    return dataclasses.replace(CIFAR_MODEL, channels=_scale(scale).image_channels)


def imagenet_model(scale=None) -> ModelSpec:
    """:data:`IMAGENET_MODEL` at the scale's width and K (the paper's 64 channels and K = 16,384 at the paper
    scale: 128 x 128 images, 16 x 16 tokens)."""
    s = _scale(scale)
    return dataclasses.replace(IMAGENET_MODEL, channels=s.image_channels, num_codes=s.imagenet_codebook_size)


def cifar_base(scale=None, root: str | None = None, model: ModelSpec | None = None,
               train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(cifar(scale, root), model or cifar_model(scale), train or image_train(scale))


def imagenet_base(scale=None, root: str | None = None, model: ModelSpec | None = None,
                  train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(imagenet(scale, root), model or imagenet_model(scale), train or image_train(scale))
