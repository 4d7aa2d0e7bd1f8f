"""Finite scalar quantization (Mentzer et al., arXiv 2309.15505) through vector-quantize-pytorch's ``FSQ``: the
kind "fsq", :class:`FSQConfig` and :class:`FSQuantizer`.

No learned codebook at all: each of ``len(levels)`` coordinates (a linear projection of the vector, bounded by a
tanh) is rounded to one of ``levels[i]`` values, so the codes are an implicit grid of prod(levels) points that
nothing can shrink or leave unused for lack of updates - the grid's answer to codebook collapse. The codebook
size K of the spec must equal prod(levels) (K = 256: levels (4, 4, 4, 4)).

Behind vqlib's interface, the lookup space is the bounded, rescaled coordinates *before* rounding (``embed``),
the codebook the grid in the same units (``codes``), so the nearest grid point is the one FSQ rounds to and
the metrics (utilization, perplexity, spreads) read it as any codebook. There is no codebook to initialize:
it only accepts ``codebook_init="own"`` (its grid), early or at a deferred switch. It has no loss of its own.
The package is a ``dev`` extra, imported only when this kind is built.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .base import Quantizer, QuantizerConfig, VQOutput, check_size, register

__all__ = ["FSQConfig", "FSQuantizer"]


@dataclass(frozen=True)
class FSQConfig(QuantizerConfig):
    """The options of the FSQ kind: the number of values per coordinate (each >= 3; K = their product)."""

    levels: tuple[int, ...] = (4, 4, 4, 4)

    def __post_init__(self):
        levels = self.levels
        if (not isinstance(levels, tuple) or not levels
                or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 3 for v in levels)):
            self._fail("levels", "a non-empty tuple of integers >= 3 (2 needs the peer's preserve_symmetry)")

    def check(self, num_codes: int, dim: int) -> None:
        if math.prod(self.levels) != num_codes:
            raise ValueError(f"FSQConfig.levels {self.levels} make {math.prod(self.levels)} codes, but the codebook "
                             f"size K is {num_codes}: choose levels whose product is K (K = 256: (4, 4, 4, 4))")


@register("fsq")
class FSQuantizer(Quantizer):
    """vector-quantize-pytorch's ``FSQ`` over vectors of size ``dim`` with the grid ``levels`` (prod(levels) =
    ``num_codes`` codes in ``len(levels)`` dimensions). Satisfies :class:`~vqlib.quantizers.QuantizerLike`."""

    config_class = FSQConfig
    own_init = "construction"

    def __init__(self, num_codes: int, dim: int, *, levels: tuple[int, ...] = (4, 4, 4, 4),
                 active: bool = True) -> None:
        super().__init__()
        try:
            from vector_quantize_pytorch import FSQ
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("the 'fsq' quantizer needs the package vector-quantize-pytorch: pip install "
                              "vector-quantize-pytorch (it is in vqlib's dev extra)") from error
        check_size(num_codes, dim)
        config = FSQConfig(levels=tuple(levels))
        config.check(num_codes, dim)
        self.layer = FSQ(levels=list(config.levels), dim=dim)
        self.levels = config.levels
        self.num_codes = int(num_codes)
        self.dim = int(dim)
        self.code_dim = len(config.levels)
        self.chunk_size = 8192
        self.active = bool(active)
        self.project_out = self.layer.project_out

    @classmethod
    def accepts_init(cls, name: str) -> bool:
        """Only its own grid: there is no codebook another initializer could set."""
        return name == "own"

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """The bounded coordinates before rounding, in the grid's units (FSQ's ``bound`` without the round)."""
        layer = self.layer
        z = layer.project_in(z.float())
        levels = layer._levels.float()
        half_l = (levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(layer._levels % 2 == 0, 0.5, 0.0)
        bounded = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
        return bounded / (layer._levels // 2)

    def codes(self) -> torch.Tensor:
        """The implicit grid, [prod(levels), len(levels)]."""
        return self.layer.implicit_codebook.detach().float()

    def initialize(self, codebook: torch.Tensor) -> None:
        raise ValueError("FSQ has no codebook to initialize: its codes are the fixed grid of its levels "
                         "(use codebook_init='own')")

    def quantize(self, z: torch.Tensor) -> VQOutput:
        zero = z.new_zeros((), dtype=torch.float32)
        out, indices = self.layer(z.float().unsqueeze(0))
        return VQOutput(out.squeeze(0).to(z.dtype), indices.squeeze(0).long(), zero, zero, zero)

    def extra_repr(self) -> str:
        return f"num_codes={self.num_codes}, dim={self.dim}, levels={self.levels}, active={self.active}"
