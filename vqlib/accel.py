"""Everything device-specific, in one place: what a GPU run does differently from a CPU run.

On CUDA, and only there:

- encoder and decoder run under bf16 autocast (the VQ layer turns autocast off inside: nearest-code search,
  EMA statistics and losses stay float32, since bf16 distances lose codes); ``VQLIB_PRECISION=fp32`` turns
  autocast off;
- TF32 matrix products and convolutions;
- convolutions in channels-last memory layout;
- batches copied from pinned host memory, asynchronously.

On the CPU every function here is the identity, so CPU results are unchanged by this module. A GPU run's
numbers differ from a CPU run's in the last digits (and more with bf16); the run cache keys by spec, not by
device, so say which device made a figure's runs.
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["configure", "autocast", "prepare_model", "prepare_input", "to_device", "synchronize",
           "reset_peak_memory", "peak_memory", "uses_bf16"]


def _is_cuda(device) -> bool:
    return torch.device(device).type == "cuda"


def uses_bf16(device) -> bool:
    """Whether encoder and decoder run in bf16 on ``device`` (CUDA unless VQLIB_PRECISION=fp32)."""
    return _is_cuda(device) and os.environ.get("VQLIB_PRECISION", "bf16").lower() != "fp32"


def configure(device) -> None:
    """Process-wide settings for training on ``device`` (TF32 on CUDA; nothing on the CPU)."""
    if _is_cuda(device):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def autocast(device):
    """The context encoder and decoder run in: bf16 autocast on CUDA, nothing elsewhere."""
    if uses_bf16(device):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: torch.nn.Module, device) -> torch.nn.Module:
    """Move ``model`` to ``device`` (channels-last on CUDA)."""
    model = model.to(device)
    if _is_cuda(device):
        model = model.to(memory_format=torch.channels_last)
    return model


def prepare_input(x: torch.Tensor) -> torch.Tensor:
    """An image batch in the layout the device's convolutions like best (channels-last on CUDA)."""
    if x.is_cuda and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def to_device(batch: torch.Tensor, device) -> torch.Tensor:
    """Copy a host batch to ``device``: through pinned memory and asynchronously for CUDA."""
    if device is None:
        return batch
    if _is_cuda(device) and batch.device.type == "cpu":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def synchronize(device) -> None:
    if _is_cuda(device):
        torch.cuda.synchronize(device)


def reset_peak_memory(device) -> None:
    if _is_cuda(device):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device) -> int | None:
    """Peak bytes allocated on a CUDA device since the last reset; None elsewhere."""
    return int(torch.cuda.max_memory_allocated(device)) if _is_cuda(device) else None
