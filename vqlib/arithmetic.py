"""The same numbers on any x86-64 machine: pin the instruction set torch, oneDNN, MKL and OpenBLAS compute with.

A CPU library picks its kernels for the processor it finds: on a machine with AVX-512, torch's vectorized
kernels, oneDNN's convolutions and the BLAS libraries take 512-bit paths that split sums differently from
the AVX2 paths, so the last digits differ, and an early-quantization run, whose codebook follows a
discrete argmin, can end somewhere else altogether. Each library reads an environment variable that caps
the instruction set it uses; they are read once, when the library first computes, so they must be set
before torch (or numpy) does any work in a process that trains:

=================== ======== =====================================================================
variable             value    what it pins
=================== ======== =====================================================================
ATEN_CPU_CAPABILITY  avx2     ATen's vectorized CPU kernels (element-wise ops, reductions, softmax,
                              Adam's fused step): the code path torch's dispatcher picks
ONEDNN_MAX_CPU_ISA   AVX2     oneDNN (mkldnn), torch's CPU convolutions: the image models
MKL_CBWR             AVX2     MKL, torch's CPU BLAS: every matrix product (linear layers, distances)
OPENBLAS_CORETYPE    Haswell  OpenBLAS, numpy's and scipy's BLAS/LAPACK: eigendecompositions of the
                              Frechet distance and Vendi score, t-SNE's PCA start
=================== ======== =====================================================================

Which of them a result needs was measured (README, "Reproducibility"); all four are set, since each guards
a different library and a study that uses none of them pays nothing for it.

:func:`pin` sets them, unless the user set them already or asked for native speed with
``VQLIB_NATIVE_ARITHMETIC=1``; ``import vqlib`` calls it, so every process that imports vqlib before torch
(notebook kernels, pool workers, torchrun ranks, submitit jobs) computes under the pins, and child processes
inherit them. :func:`capability` says what this process actually computes with; it is recorded in every
cache entry and printed atop every notebook (:mod:`vqlib.versions`). On other architectures (ARM) nothing
is pinned: those numbers differ from x86-64's whatever one sets.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

__all__ = ["PINS", "NATIVE_SWITCH", "PINNED_CAPABILITY", "pinnable", "pinned_requested", "pin", "capability",
           "openblas_cores", "unpinned", "check"]

#: the variables that cap each CPU library's instruction set, and the AVX2 value every x86-64 CPU since 2013 has
PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
}
#: set to 1 to compute with whatever this CPU has (faster on AVX-512; other last digits than the figures')
NATIVE_SWITCH = "VQLIB_NATIVE_ARITHMETIC"
#: what torch reports when the pins are in force
PINNED_CAPABILITY = "AVX2"


def pinnable() -> bool:
    """Whether this machine is x86-64, where the pins apply."""
    return platform.machine().lower() in ("x86_64", "amd64")


def pinned_requested() -> bool:
    """Whether this process should compute under the pins (x86-64 and not VQLIB_NATIVE_ARITHMETIC=1)."""
    return pinnable() and os.environ.get(NATIVE_SWITCH, "0") != "1"


def pin() -> None:
    """Set each pin that is not set yet (a user's own value wins), before any library computes."""
    if not pinned_requested():
        return
    for name, value in PINS.items():
        os.environ.setdefault(name, value)


def capability() -> str:
    """The instruction set torch's CPU kernels use in this process ("AVX2", "AVX512", "DEFAULT", ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def openblas_cores() -> list[str]:
    """The kernel family ("Haswell", "SkylakeX", ...) of every OpenBLAS loaded in this process (numpy's,
    scipy's), where threadpoolctl (installed with scikit-learn) can tell; else an empty list."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [str(info["architecture"]) for info in threadpoolctl.threadpool_info()
            if info.get("internal_api") == "openblas" and info.get("architecture")]


def unpinned() -> list[str]:
    """What in this process computes with other kernels than the pins ask for (empty when all is pinned, and
    when no pins are requested): torch's kernels, and every OpenBLAS already loaded."""
    if not pinned_requested():
        return []
    found = []
    wanted = os.environ.get("ATEN_CPU_CAPABILITY", PINS["ATEN_CPU_CAPABILITY"]).upper()
    if "torch" in sys.modules and capability() not in (wanted, "DEFAULT"):
        found.append(f"torch's kernels are {capability()}, not {wanted}")
    core = os.environ.get("OPENBLAS_CORETYPE", PINS["OPENBLAS_CORETYPE"]).lower()
    found += [f"OpenBLAS runs {arch} kernels, not {core}" for arch in openblas_cores() if arch.lower() != core]
    return found


_checked = False


def check() -> None:
    """Warn once when this process should compute pinned but a library chose its kernels before the pins were
    set (torch or numpy imported before vqlib, in a process whose environment did not carry them)."""
    global _checked
    if _checked:
        return
    _checked = True
    problems = unpinned()
    if problems:
        warnings.warn(f"{'; '.join(problems)}: they were chosen before vqlib was imported. Set "
                      f"{' '.join(f'{k}={v}' for k, v in PINS.items())} in the environment (make does), or import "
                      f"vqlib before torch and numpy, for the committed figures' numbers; {NATIVE_SWITCH}=1 says "
                      "native speed is what you want", stacklevel=2)
