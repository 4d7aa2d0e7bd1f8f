"""The one place images are cropped: random per-image crops for training, the centre crop for evaluation.

Image data sets may be stored a few pixels larger than the models' input (``ImageSpec.crop_margin``):
training batches then take an independent random window of every image (a cheap augmentation that keeps a
small data set from being memorized pixel for pixel), while evaluation, k-means at the quantization switch
and every picture use the deterministic centre window.
"""

from __future__ import annotations

import torch

__all__ = ["random_crop", "center_crop", "crop_offsets"]


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else size
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"crop size must be a positive int or (height, width), got {size!r}")
    return int(h), int(w)


def _check(images: torch.Tensor, size: tuple[int, int]) -> None:
    if images.ndim != 4:
        raise ValueError(f"crops need an NCHW batch, got shape {tuple(images.shape)}")
    if size[0] > images.shape[-2] or size[1] > images.shape[-1]:
        raise ValueError(f"crop size {size} is larger than the image size {tuple(images.shape[-2:])}")


def crop_offsets(images: torch.Tensor, size: int | tuple[int, int], generator: torch.Generator | None = None):
    """(top, left) offsets [N] of one random window per image, drawn from ``generator`` (on its device)."""
    h, w = _size(size)
    _check(images, (h, w))
    n, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    device = generator.device if generator is not None else torch.device("cpu")
    top = torch.randint(0, height - h + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, width - w + 1, (n,), generator=generator, device=device)
    return top.to(images.device), left.to(images.device)


def random_crop(images: torch.Tensor, size: int | tuple[int, int],
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A random ``size`` window of each image of an NCHW batch; every image gets its own offset.

    Offsets come from ``generator``, so a seeded generator gives the same crops. Images already of the
    crop size are returned unchanged (no random numbers are drawn).
    """
    images = torch.as_tensor(images)
    h, w = _size(size)
    _check(images, (h, w))
    if images.shape[-2:] == (h, w):
        return images
    top, left = crop_offsets(images, (h, w), generator)
    rows = (top[:, None] + torch.arange(h, device=images.device))[:, :, None]  # (N, h, 1)
    cols = (left[:, None] + torch.arange(w, device=images.device))[:, None, :]  # (N, 1, w)
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]
    # Advanced indices separated by a slice move to the front: the result is (N, h, w, C).
    return images[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def center_crop(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """The centre ``size`` window of each image of an NCHW batch (the top-left of the two middles when the
    margin is odd)."""
    images = torch.as_tensor(images)
    h, w = _size(size)
    _check(images, (h, w))
    top, left = (images.shape[-2] - h) // 2, (images.shape[-1] - w) // 2
    return images[..., top:top + h, left:left + w].contiguous()
