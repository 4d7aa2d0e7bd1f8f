"""Datasets as tensors: Gaussian mixtures with known components, and the image sets of :mod:`vqlib.images`.

:func:`load` turns a data spec (:class:`MixtureSpec` or :class:`ImageSpec`) into a :class:`Prepared`
bundle of training and evaluation tensors with a content checksum (``identity``) and a description of the
source; :func:`prepare` does the same once per process. The experiment runner and the notebooks use only
these. Where image data is read from is an argument (``ImageSpec.root``) or an environment variable read
at load time, never a hidden setting: it is not part of a run's identity, the data's checksum is.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import cache, crops, images
from .accel import to_device

__all__ = ["GaussianMixture", "make_gaussian_mixture", "MixtureSpec", "ImageSpec", "Prepared", "load", "prepare",
           "forget_prepared", "IMAGE_DATASETS"]


@dataclass(frozen=True)
class GaussianMixture:
    points: torch.Tensor  # [N, D] float32
    labels: torch.Tensor  # [N] int64, the component of each point
    means: torch.Tensor  # [C, D]
    std: float


def make_gaussian_mixture(num_components: int = 10, points_per_component: int = 1000, dim: int = 2,
                          separation: float = 1.0, std: float = 0.05, min_distance: float | None = None,
                          seed: int = 0, nearest_ratio: float | None = None) -> GaussianMixture:
    """C isotropic Gaussians of equal ``std`` with distinct means, ``points_per_component`` points each.

    Means are drawn uniformly from the cube [-separation, separation]^D, redrawing any mean closer than
    ``min_distance`` (default 6 std) to an earlier one, so that every component is a distinct mode.
    ``nearest_ratio`` then rescales the means (about the origin) so that the two closest are exactly
    ``nearest_ratio`` x ``std`` apart: the same separation at every D (in the cube, distances between random
    means grow like sqrt(D), so a fixed ``min_distance`` means ever wider separation as D grows).
    Points are ordered by component.
    """
    for name, value in (("num_components", num_components), ("points_per_component", points_per_component),
                        ("dim", dim)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not separation > 0 or not std > 0:
        raise ValueError(f"separation and std must be > 0, got separation={separation!r}, std={std!r}")
    if nearest_ratio is not None and not (nearest_ratio > 0 and math.isfinite(nearest_ratio)):
        raise ValueError(f"nearest_ratio must be a finite number > 0 (the closest means' distance in stds), "
                         f"got {nearest_ratio!r}")
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
    if nearest_ratio is not None and num_components > 1:
        nearest = torch.pdist(mean_tensor.double()).min()
        mean_tensor = (mean_tensor.double() * (nearest_ratio * std / nearest)).to(mean_tensor.dtype)
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
    #: least distance between two means (None: 6 std); fixed, it keeps the means while ``std`` varies
    min_distance: float | None = field(default=None, metadata={"absent": None})
    #: the closest two means exactly this many stds apart (the means rescaled; None: as drawn)
    nearest_ratio: float | None = field(default=None, metadata={"absent": None})


IMAGE_DATASETS = ("cifar10", "imagenet")
#: where each image dataset is read from when ``ImageSpec.root`` is None
ROOT_VARIABLES = {"cifar10": "VQLIB_CIFAR10", "imagenet": "VQLIB_IMAGENET"}


@dataclass(frozen=True)
class ImageSpec:
    """Image data of a run: ``name`` in IMAGE_DATASETS, square ``resolution``.

    ``train_images``/``eval_images`` take the first N images of the training / evaluation split (None:
    all); image folders are read class-interleaved, so every such subset spans all classes. ImageNet's
    evaluation images are its held-out ``val`` split; a root with only ``val`` (the offline one-image-per-class
    sample) trains on it too. ``crop_margin`` extra pixels are loaded: training batches take a random
    ``resolution`` window of each image, evaluation the centre window (:mod:`vqlib.crops`).

    ``root`` says where to read the data (for CIFAR-10 any layout :func:`vqlib.images.load_cifar10` accepts,
    for ImageNet an ImageFolder root); None reads VQLIB_CIFAR10 / VQLIB_IMAGENET, and for CIFAR-10 without
    either, the official download. It is not part of the run's identity: the cache keys runs by a checksum
    of the pixels, so the same data anywhere gives the same runs.

    ``classes`` keeps a subset of ImageNet's class folders (wnids), e.g. the 100 of ImageNet-100 from a full
    ImageNet root: ``ImageSpec("imagenet", classes=vqlib.images.read_class_list("imagenet100.txt"))``.
    """

    name: str = "cifar10"
    resolution: int = 32
    train_images: int | None = None
    eval_images: int | None = 1000
    crop_margin: int = 0
    root: str | None = field(default=None, metadata={"key": False})
    classes: tuple[str, ...] | None = field(default=None, metadata={"absent": None})

    def __post_init__(self):
        if self.name not in IMAGE_DATASETS:
            raise ValueError(f"unknown image dataset {self.name!r}; choose one of {IMAGE_DATASETS}")
        if int(self.resolution) != self.resolution or self.resolution < 8:
            raise ValueError(f"resolution must be an integer >= 8, got {self.resolution!r}")
        for name in ("train_images", "eval_images"):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value < 1):
                raise ValueError(f"{name} must be None (all) or an integer >= 1, got {value!r}")
        if int(self.crop_margin) != self.crop_margin or self.crop_margin < 0:
            raise ValueError(f"crop_margin must be an integer >= 0, got {self.crop_margin!r}")
        if self.classes is not None:
            if self.name != "imagenet" or isinstance(self.classes, str) or not self.classes:
                raise ValueError("classes must be a non-empty list of ImageNet class folder names (wnids), and only "
                                 f"for name='imagenet'; got {self.classes!r} for {self.name!r} (a file: "
                                 "vqlib.images.read_class_list(path))")
            object.__setattr__(self, "classes", tuple(sorted(set(map(str, self.classes)))))
        if self.root is not None and not isinstance(self.root, str):
            object.__setattr__(self, "root", str(self.root))  # accept a Path, keep the spec hashable

    def resolved_root(self) -> str | None:
        """``root``, else the dataset's environment variable, else None (the default source)."""
        return self.root or os.environ.get(ROOT_VARIABLES[self.name]) or None


@dataclass
class Prepared:
    """The data of one run, with batches made on demand.

    ``train_data``/``eval_data`` are either image pixels, uint8 NHWC numpy arrays (usually views of a
    memory-mapped decode cache: a data set larger than RAM costs the process no memory of its own), or float
    tensors (mixture points [N, D], or images already as float NCHW in [-1, 1]). Batches are gathered from
    them and turned into float32 NCHW in [-1, 1] on the training device (:meth:`train_batch`,
    :meth:`eval_batches`); ``train``/``eval`` give a whole split as one float tensor, for small sets and
    pictures only.

    ``identity`` is a checksum of the data's content (what the run cache keys on); ``source`` says in words
    where the data came from (for notebooks and figure captions). ``train_labels``/``eval_labels`` are the
    mixture component or the image class of every input. ``crop``: training batches take random windows of
    this size (images stored with a margin); ``eval_data`` is already the centre window.
    """

    train_data: np.ndarray | torch.Tensor
    eval_data: np.ndarray | torch.Tensor
    source: str
    identity: str
    train_labels: torch.Tensor | None = None
    eval_labels: torch.Tensor | None = None
    means: torch.Tensor | None = None  # mixture means
    crop: int | None = None
    _whole: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_components(self) -> int | None:
        return None if self.means is None else int(self.means.shape[0])

    @property
    def num_train(self) -> int:
        return int(self.train_data.shape[0])

    @property
    def num_eval(self) -> int:
        return int(self.eval_data.shape[0])

    def train_inputs(self, index, device: torch.device | str | None = None) -> torch.Tensor:
        """Training inputs ``index`` (a slice or an index tensor), uncropped, as float on ``device``."""
        return _inputs(self.train_data, index, device)

    def crop_for_training(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random ``crop`` window of every image (a no-op for data stored at the model's size)."""
        return batch if self.crop is None else crops.random_crop(batch, self.crop, generator)

    def train_batch(self, index: torch.Tensor, generator: torch.Generator, device) -> torch.Tensor:
        """The training batch ``index``: gathered, moved to ``device``, randomly cropped, as float."""
        if isinstance(self.train_data, torch.Tensor):
            return self.crop_for_training(self.train_data[index.to(self.train_data.device)].to(device), generator)
        # Gather and crop the uint8 pixels (a quarter of the bytes to move), then convert on the device.
        pixels = to_device(torch.from_numpy(self.train_data[index.numpy()]), device).permute(0, 3, 1, 2)
        return _to_float(self.crop_for_training(pixels, generator))

    def eval_batches(self, batch_size: int, device=None, shard: tuple[int, int] = (0, 1)):
        """The evaluation inputs in order, ``batch_size`` at a time, as float on ``device``. ``shard=(r, n)``
        yields only batches r, r + n, r + 2n, ... (rank r of n evaluating together)."""
        rank, ranks = shard
        for number, start in enumerate(range(0, self.num_eval, batch_size)):
            if number % ranks == rank:
                yield _inputs(self.eval_data, slice(start, start + batch_size), device)

    @property
    def train(self) -> torch.Tensor:
        """The whole training split as one float tensor (uncropped; converted once, then kept)."""
        if "train" not in self._whole:
            self._whole["train"] = _inputs(self.train_data, slice(None))
        return self._whole["train"]

    @property
    def eval(self) -> torch.Tensor:
        """The whole evaluation split as one float tensor (converted once, then kept)."""
        if "eval" not in self._whole:
            self._whole["eval"] = _inputs(self.eval_data, slice(None))
        return self._whole["eval"]


def _to_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float32 NCHW in [-1, 1], the arithmetic of :func:`vqlib.pixels.to_tensor`."""
    return pixels.to(torch.float32).div(127.5).sub(1.0).contiguous()


def _inputs(data: np.ndarray | torch.Tensor, index, device=None) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        index = index if isinstance(index, slice) else torch.as_tensor(index).to(data.device)
        return data[index].to(device) if device is not None else data[index]
    index = index if isinstance(index, slice) else torch.as_tensor(index).numpy()
    pixels = torch.from_numpy(np.array(data[index]))  # a writable copy of just these rows
    pixels = to_device(pixels, device) if device is not None else pixels
    return _to_float(pixels.permute(0, 3, 1, 2))


def _limit(array: np.ndarray, n: int | None) -> np.ndarray:
    return array if n is None else array[:n]


def load(spec: MixtureSpec | ImageSpec, data_dir=None) -> Prepared:
    """Materialize a data spec (downloads or reads local copies, announced, cached as .npy)."""
    if isinstance(spec, MixtureSpec):
        mix = make_gaussian_mixture(spec.num_components, spec.points_per_component, spec.dim, spec.separation,
                                    spec.std, min_distance=spec.min_distance, seed=spec.seed,
                                    nearest_ratio=spec.nearest_ratio)
        where = (f"means in [-{spec.separation:g}, {spec.separation:g}]^D" if spec.nearest_ratio is None else
                 f"closest means {spec.nearest_ratio:g} std apart")
        source = (f"Gaussian mixture: {spec.num_components} components x {spec.points_per_component} points, "
                  f"D={spec.dim}, std={spec.std:g}, {where}, data seed {spec.seed}")
        return Prepared(mix.points, mix.points, source, cache.digest(mix.points, mix.labels), mix.labels,
                        mix.labels, mix.means)
    if not isinstance(spec, ImageSpec):
        raise TypeError(f"data spec must be a MixtureSpec or an ImageSpec, got {type(spec).__name__}")
    root = spec.resolved_root()
    if spec.name == "cifar10":
        if spec.resolution != 32 or spec.crop_margin:
            raise ValueError("CIFAR-10 is 32x32: use resolution=32 and crop_margin=0")
        # root=None lets the loader read VQLIB_CIFAR10 itself, so the source string names the variable
        train_set = images.load_cifar10("train", root=spec.root, data_dir=data_dir, limit=spec.train_images)
        eval_set = images.load_cifar10("test", root=spec.root, data_dir=data_dir, limit=spec.eval_images)
        source = train_set.source
    else:
        size = spec.resolution + spec.crop_margin
        eval_set = images.load_imagenet("val", root=spec.root, resolution=size, classes=spec.classes)
        if root is not None and (Path(root).expanduser() / "train").is_dir():
            train_set = images.load_imagenet("train", root=spec.root, resolution=size, classes=spec.classes)
            source = f"{train_set.source}; evaluation: {eval_set.source}"
        else:  # a root with only a val split (the offline sample): train and evaluate on it
            train_set, source = eval_set, eval_set.source
    train_pixels = _limit(train_set.images, spec.train_images)
    train_labels = _limit(train_set.labels, spec.train_images)
    eval_pixels, eval_labels = _limit(eval_set.images, spec.eval_images), _limit(eval_set.labels, spec.eval_images)
    identity = cache.digest(train_pixels, train_labels, eval_pixels, eval_labels)
    if spec.crop_margin:  # evaluation sees the centre window: a view, nothing is copied
        top = spec.crop_margin // 2  # crops.center_crop's window
        eval_pixels = eval_pixels[:, top:top + spec.resolution, top:top + spec.resolution]
    return Prepared(train_pixels, eval_pixels, source, identity, torch.as_tensor(np.asarray(train_labels)),
                    torch.as_tensor(np.asarray(eval_labels)), crop=spec.resolution if spec.crop_margin else None)


# Runs that share data share the tensors. Keyed by the spec *and* where its data is read from at the time
# of the call, so pointing VQLIB_CIFAR10 elsewhere mid-process gives the new data, not a stale copy; the
# few most recent data sets are kept (an image set is hundreds of MB).
_PREPARED: OrderedDict = OrderedDict()
_PREPARED_KEEP = 4


def prepare(spec: MixtureSpec | ImageSpec) -> Prepared:
    """:func:`load` once per process for each (spec, data location); the most recent few are kept."""
    location = spec.resolved_root() if isinstance(spec, ImageSpec) else None
    key = (spec, location, os.environ.get("VQLIB_DATA"))
    if key in _PREPARED:
        _PREPARED.move_to_end(key)
        return _PREPARED[key]
    prepared = load(spec)
    _PREPARED[key] = prepared
    while len(_PREPARED) > _PREPARED_KEEP:
        _PREPARED.popitem(last=False)
    return prepared


def forget_prepared() -> None:
    """Drop every data set :func:`prepare` holds (frees memory; the next call loads again)."""
    _PREPARED.clear()
