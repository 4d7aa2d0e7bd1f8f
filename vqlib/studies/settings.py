"""The named base settings that more than one notebook uses, in a study context (scale and data roots).

Notebooks never build these themselves: a notebook that reuses another's runs (03 reuses 01 and 02, 04
reuses 03) gets them from the cache only if it asks for exactly the same specs, so the specs live here,
once. Every choice below was made for speed on a CPU before any result was seen (notebooks' "Settings"
sections). Nothing here reads the environment: what a spec is comes from the :class:`~.context.Context`.

The studies name each dataset once: :data:`MIXTURE`, :data:`CIFAR10`, :data:`IMAGENET` (what tables, figures
and prose show; the data layer's own identifiers, ``ImageSpec("cifar10")``, stay inside this module).
"""

from __future__ import annotations

import dataclasses

from ..data import ImageSpec, MixtureSpec
from ..experiments import ModelSpec, RunSpec
from ..train import TrainSpec
from .context import Context

__all__ = ["MIXTURE", "CIFAR10", "IMAGENET",
           "paper_mixture", "big_mixture", "SMALL_MIXTURE_MODEL", "BIG_MIXTURE_MODEL", "mixture_train",
           "mixture_sweep_train", "cifar", "imagenet", "CIFAR_MODEL", "IMAGENET_MODEL", "image_train",
           "image_sweep_train", "endpoints_only",
           "cifar_model", "imagenet_model", "cifar_converged", "mixture_base", "big_mixture_base", "cifar_base",
           "imagenet_base"]

#: the one name of each dataset in the studies' tables, figures and prose
MIXTURE, CIFAR10, IMAGENET = "mixture", "CIFAR-10", "ImageNet"

#: K and d on the paper's 10-component mixture
SMALL_MIXTURE_MODEL = ModelSpec(num_codes=32, latent_dim=8)
#: K and d on the 64-component mixture in D = 32
BIG_MIXTURE_MODEL = ModelSpec(num_codes=256, latent_dim=16)
#: the CIFAR-10 tokenizer: 32 channels, one residual block, d = 32, K = 256, 32x32 -> 8x8 tokens
CIFAR_MODEL = ModelSpec(kind="conv", num_codes=256, latent_dim=32, channels=32, num_res_blocks=1, num_downsamples=2)
#: the ImageNet tokenizer: one more downsampling keeps an 8x8 token grid at 64x64 (16x16 at 128x128, the
#: paper's 256 tokens)
IMAGENET_MODEL = dataclasses.replace(CIFAR_MODEL, num_downsamples=3)


def paper_mixture(ctx: Context, dim: int = 8, points_per_component: int | None = None) -> MixtureSpec:
    """The paper's mixture: 10 Gaussians of equal spread and distinct means, in ``dim`` dimensions."""
    s = ctx.scale
    return MixtureSpec(num_components=10, points_per_component=points_per_component or s.mixture_points_per_component,
                       dim=dim)


def big_mixture(ctx: Context) -> MixtureSpec:
    """64 components in D = 32, ``sweep_points`` points in all (the capacity and shrinkage studies)."""
    s = ctx.scale
    return MixtureSpec(num_components=64, points_per_component=s.sweep_points // 64, dim=32)


def mixture_train(ctx: Context) -> TrainSpec:
    s = ctx.scale
    return TrainSpec(steps=s.mixture_steps, batch_size=s.mixture_batch, eval_every=s.mixture_eval_every)


def mixture_sweep_train(ctx: Context) -> TrainSpec:
    """The sweeps' shorter budget, evaluated at the start, the switch and the end only."""
    s = ctx.scale
    return TrainSpec(steps=s.sweep_steps, batch_size=s.mixture_batch, eval_every=s.sweep_steps)


def cifar(ctx: Context) -> ImageSpec:
    """CIFAR-10 at 32x32: ``cifar_train_images`` training images, ``eval_images`` held-out test images."""
    s = ctx.scale
    return ImageSpec("cifar10", resolution=32, train_images=s.cifar_train_images, eval_images=s.eval_images,
                     root=ctx.cifar_root)


def imagenet(ctx: Context) -> ImageSpec:
    """ImageNet at ``imagenet_resolution`` with a margin of an eighth for random training crops; the context's
    ``imagenet_classes`` keep those classes of the root (ImageNet-100 from a full ImageNet tree)."""
    s = ctx.scale
    return ImageSpec("imagenet", resolution=s.imagenet_resolution, train_images=None, eval_images=s.eval_images,
                     crop_margin=s.imagenet_resolution // 8, root=ctx.imagenet_root, classes=ctx.imagenet_classes)


def image_train(ctx: Context) -> TrainSpec:
    s = ctx.scale
    return TrainSpec(steps=s.image_steps, batch_size=s.image_batch, eval_every=s.image_eval_every,
                     eval_batch_size=256)


def image_sweep_train(ctx: Context) -> TrainSpec:
    return endpoints_only(image_train(ctx))


def endpoints_only(train: TrainSpec) -> TrainSpec:
    """``train`` evaluated at the start, the switch and the end only (sweeps need no curves)."""
    return dataclasses.replace(train, eval_every=train.steps)


def mixture_base(ctx: Context, dim: int = 8, points_per_component: int | None = None, model: ModelSpec | None = None,
                 train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(paper_mixture(ctx, dim, points_per_component), model or SMALL_MIXTURE_MODEL,
                   train or mixture_train(ctx))


def big_mixture_base(ctx: Context, model: ModelSpec | None = None, train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(big_mixture(ctx), model or BIG_MIXTURE_MODEL, train or mixture_train(ctx))


def cifar_model(ctx: Context) -> ModelSpec:
    """:data:`CIFAR_MODEL` at the scale's channel width (the paper's 64 at the paper scale)."""
    return dataclasses.replace(CIFAR_MODEL, channels=ctx.scale.image_channels)


def imagenet_model(ctx: Context) -> ModelSpec:
    """:data:`IMAGENET_MODEL` at the scale's width and K (the paper's 64 channels and K = 16,384 at the paper
    scale: 128 x 128 images, 16 x 16 tokens)."""
    s = ctx.scale
    return dataclasses.replace(IMAGENET_MODEL, channels=s.image_channels, num_codes=s.imagenet_codebook_size)


def cifar_base(ctx: Context, model: ModelSpec | None = None, train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(cifar(ctx), model or cifar_model(ctx), train or image_train(ctx))


def imagenet_base(ctx: Context, model: ModelSpec | None = None, train: TrainSpec | None = None) -> RunSpec:
    return RunSpec(imagenet(ctx), model or imagenet_model(ctx), train or image_train(ctx))


def cifar_converged(ctx: Context, num_codes: int | None = None) -> RunSpec:
    """The CIFAR-10 tokenizer at the budget where the baseline has finished learning (the scale's
    ``converged_steps``: at the default scale 12,000 steps, 20x the sweeps' 600; chosen from the long reference
    runs, which are this spec's seed 0): the whole training split, ``converged_eval_images`` held-out images
    (2,000: about 500 tokens per code at K = 256, 31 at K = 4096), curves every ``converged_eval_every`` steps."""
    s = ctx.scale
    data = dataclasses.replace(cifar(ctx), train_images=s.converged_train_images, eval_images=s.converged_eval_images)
    train = dataclasses.replace(image_train(ctx), steps=s.converged_steps, eval_every=s.converged_eval_every)
    model = cifar_model(ctx) if num_codes is None else dataclasses.replace(cifar_model(ctx), num_codes=num_codes)
    return RunSpec(data, model, train)
