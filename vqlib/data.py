"""Datasets as tensors: Gaussian mixtures with known components, and the image sets of :mod:`vqlib.images`.

:func:`load` turns a data spec (:class:`MixtureSpec` or :class:`ImageSpec`) into a :class:`Prepared`
bundle of training and evaluation tensors; the experiment runner and the notebooks use only that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import images

__all__ = ["GaussianMixture", "make_gaussian_mixture", "MixtureSpec", "ImageSpec", "Prepared", "load",
           "IMAGE_DATASETS"]


@dataclass(frozen=True)
class GaussianMixture:
    points: torch.Tensor  # [N, D] float32
    labels: torch.Tensor  # [N] int64, the component of each point
    means: torch.Tensor  # [C, D]
    std: float


def make_gaussian_mixture(num_components: int = 10, points_per_component: int = 1000, dim: int = 2,
                          separation: float = 1.0, std: float = 0.05, min_distance: float | None = None,
                          seed: int = 0) -> GaussianMixture:
    """C isotropic Gaussians of equal ``std`` with distinct means, ``points_per_component`` points each.

    Means are drawn uniformly from the cube [-separation, separation]^D, redrawing any mean closer than
    ``min_distance`` (default 6 std) to an earlier one, so that every component is a distinct mode.
    Points are ordered by component.
    """
    for name, value in (("num_components", num_components), ("points_per_component", points_per_component),
                        ("dim", dim)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not separation > 0 or not std > 0:
        raise ValueError(f"separation and std must be > 0, got separation={separation!r}, std={std!r}")
    min_distance = 6.0 * std if min_distance is None else float(min_distance)
    gen = torch.Generator().manual_seed(seed)
    means: list[torch.Tensor] = []
    tries = 0
    while len(means) < num_components:
        tries += 1
        if tries > 200_000:
            raise ValueError(f"cannot place {num_components} means at least {min_distance:g} apart in "
                             f"[-{separation:g}, {separation:g}]^{dim}: raise separation or lower std")
        if tries % 2_000 == 0:
            means = []  # the early placements left no room: start over
        candidate = (torch.rand(dim, generator=gen) * 2 - 1) * separation
        if all(float((candidate - m).norm()) >= min_distance for m in means):
            means.append(candidate)
    mean_tensor = torch.stack(means)
    labels = torch.arange(num_components).repeat_interleave(points_per_component)
    points = mean_tensor[labels] + std * torch.randn(labels.numel(), dim, generator=gen)
    return GaussianMixture(points.float(), labels, mean_tensor.float(), float(std))


@dataclass(frozen=True)
class MixtureSpec:
    """The Gaussian-mixture data of a run. Training and evaluation use the same points (as in the paper)."""

    num_components: int = 10
    points_per_component: int = 1000
    dim: int = 2
    separation: float = 1.0
    std: float = 0.05
    seed: int = 0


IMAGE_DATASETS = ("cifar10", "imagenet")


@dataclass(frozen=True)
class ImageSpec:
    """Image data of a run: ``name`` in IMAGE_DATASETS, square ``resolution``.

    ``train_images``/``eval_images`` take the first N images of the training / evaluation split (None:
    all). ImageNet's evaluation images are its held-out split where the root has one; the offline
    one-image-per-class sample has only ``val``, which then serves both (``crop_margin`` extra pixels are
    loaded and training takes random crops, evaluation the centre crop).
    """

    name: str = "cifar10"
    resolution: int = 32
    train_images: int | None = None
    eval_images: int | None = 1000
    crop_margin: int = 0

    def __post_init__(self):
        if self.name not in IMAGE_DATASETS:
            raise ValueError(f"unknown image dataset {self.name!r}; choose one of {IMAGE_DATASETS}")


@dataclass
class Prepared:
    """Tensors for one run. Images are float32 NCHW in [-1, 1]; mixture points are [N, D]."""

    train: torch.Tensor
    eval: torch.Tensor
    source: str
    eval_labels: torch.Tensor | None = None  # mixture components of the evaluation points
    means: torch.Tensor | None = None  # mixture means
    crop: int | None = None  # random-crop size for training batches (images only)

    @property
    def num_components(self) -> int | None:
        return None if self.means is None else int(self.means.shape[0])


def _limit(array: np.ndarray, n: int | None) -> np.ndarray:
    return array if n is None else array[:n]


def load(spec: MixtureSpec | ImageSpec, data_dir=None) -> Prepared:
    """Materialize a data spec (downloads or reads local copies, announced, cached as .npy)."""
    if isinstance(spec, MixtureSpec):
        mix = make_gaussian_mixture(spec.num_components, spec.points_per_component, spec.dim, spec.separation,
                                    spec.std, seed=spec.seed)
        source = (f"Gaussian mixture: {spec.num_components} components x {spec.points_per_component} points, "
                  f"D={spec.dim}, std={spec.std:g}, means in [-{spec.separation:g}, {spec.separation:g}]^D, "
                  f"data seed {spec.seed}")
        return Prepared(mix.points, mix.points, source, mix.labels, mix.means)
    if not isinstance(spec, ImageSpec):
        raise TypeError(f"data spec must be a MixtureSpec or an ImageSpec, got {type(spec).__name__}")
    if spec.name == "cifar10":
        if spec.resolution != 32 or spec.crop_margin:
            raise ValueError("CIFAR-10 is 32x32: use resolution=32 and crop_margin=0")
        train = images.load_cifar10("train", data_dir=data_dir, limit=spec.train_images)
        test = images.load_cifar10("test", data_dir=data_dir, limit=spec.eval_images)
        return Prepared(images.to_tensor(train.images), images.to_tensor(test.images), train.source)
    size = spec.resolution + spec.crop_margin
    held_out = images.load_imagenet("val", resolution=size)
    try:
        train_set = images.load_imagenet("train", resolution=size)
    except images.DataSourceError:
        # A root with only a val split (the offline sample): train and evaluate on it.
        train_set = held_out
    train_x = images.to_tensor(_limit(train_set.images, spec.train_images))
    eval_x = images.to_tensor(_limit(held_out.images, spec.eval_images))
    if spec.crop_margin:
        m = spec.crop_margin // 2
        eval_x = eval_x[:, :, m:m + spec.resolution, m:m + spec.resolution]
    source = held_out.source if train_set is held_out else f"{train_set.source}; evaluation: {held_out.source}"
    return Prepared(train_x, eval_x.contiguous(), source, crop=spec.resolution if spec.crop_margin else None)
