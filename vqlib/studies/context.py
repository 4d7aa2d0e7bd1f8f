"""One study context: the scale and the data roots, resolved once where a study starts.

Every study function takes a :class:`Context` instead of a scale name and data roots threaded through its
arguments. It is made once, at the edge - a notebook's top (:func:`vqlib.studies.begin`, from its papermill
parameters) or a command line - by :func:`context`, which is also the one place that reads the environment
for what a parameter leaves unset (VQLIB_IMAGENET, VQLIB_IMAGENET_CLASSES); nothing below reads an environment
variable to decide what a spec is: a setting that changes a cache key is visible where the study starts, not
picked up on the way.

The roots say where to *read* a dataset (they are not part of any cache key: the data's checksum is); a root
left None is the data layer's default source (:func:`vqlib.images.load_cifar10`: VQLIB_CIFAR10, else the
official download), which also names that source in every figure's caption. ``with_imagenet`` says whether the
study has ImageNet at all (a root given or VQLIB_IMAGENET set); ``imagenet_classes`` says *which* ImageNet
classes make the dataset, so it is part of the ImageNet spec (an ImageNet-100 subset of a full ImageNet tree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..images import read_class_list
from ..scales import Scale, get_scale

__all__ = ["Context", "context"]


@dataclass(frozen=True)
class Context:
    """Scale and data of a study. ``cifar_root``/``imagenet_root``: a local copy to read (None: the dataset's
    default source, see :mod:`vqlib.data`); ``with_imagenet``: whether the study includes ImageNet;
    ``imagenet_classes``: the wnids of the ImageNet classes to keep (None: every class under the root)."""

    scale: Scale
    cifar_root: str | None = None
    imagenet_root: str | None = None
    imagenet_classes: tuple[str, ...] | None = None
    with_imagenet: bool = False

    def __post_init__(self):
        if not isinstance(self.scale, Scale):
            raise TypeError(f"Context.scale must be a Scale (use vqlib.studies.context(name)), got {self.scale!r}")

    @property
    def name(self) -> str:
        """The scale's name (figures of scales other than ``default`` go to ``figures/<name>/``)."""
        return self.scale.name


def context(scale: str | Scale | Context | None = "default", cifar_root: str | os.PathLike | None = None,
            imagenet_root: str | os.PathLike | None = None,
            imagenet_classes: str | os.PathLike | tuple[str, ...] | None = None) -> Context:
    """The study context of a named scale and data roots (a Context is returned as it is).

    The study includes ImageNet when ``imagenet_root`` is given or VQLIB_IMAGENET is set (the data layer reads
    it when the root is None). ``imagenet_classes`` is a text file of wnids, one per line, or the wnids
    themselves; None reads the file VQLIB_IMAGENET_CLASSES names, if set (read here, once). An unknown scale is
    an error naming the known ones; ``None`` means ``default`` (read VQLIB_SCALE at the edge and pass its value,
    as the notebooks' parameters cells do)."""
    if isinstance(scale, Context):
        return scale
    if imagenet_classes is None:
        imagenet_classes = os.environ.get("VQLIB_IMAGENET_CLASSES") or None
    if isinstance(imagenet_classes, (str, os.PathLike)):
        imagenet_classes = read_class_list(imagenet_classes)
    elif imagenet_classes is not None:
        imagenet_classes = tuple(imagenet_classes)
    with_imagenet = bool(imagenet_root or os.environ.get("VQLIB_IMAGENET"))
    return Context(get_scale(scale or "default"), _root(cifar_root), _root(imagenet_root), imagenet_classes or None,
                   with_imagenet)


def _root(root) -> str | None:
    return os.fspath(root) if root else None
