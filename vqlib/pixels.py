"""Pixels between the two forms the library uses: uint8 channel-last arrays (what the image readers return and
figures show) and float channel-first tensors in [-1, 1] (what the models take).

Kept apart from the dataset readers (:mod:`vqlib.images`) so that drawing an image grid
(:func:`vqlib.plotting.image_grid`) does not import them.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_tensor", "to_uint8"]


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (or one HWC image) -> float32 NCHW (or CHW) in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    if x.dtype != torch.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"to_tensor expects uint8 (N, H, W, 3) or (H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.permute(2, 0, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.to(torch.float32).div(127.5).sub(1.0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float NCHW (or CHW) in [-1, 1] -> uint8 NHWC (or HWC) numpy array; values outside are clipped."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"to_uint8 expects (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    y = x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)
    y = y.permute(1, 2, 0) if y.ndim == 3 else y.permute(0, 2, 3, 1)
    return np.ascontiguousarray(y.cpu().numpy())
