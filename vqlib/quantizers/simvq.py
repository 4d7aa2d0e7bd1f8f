"""SimVQ (Zhu et al., arXiv 2411.02038), the kind "simvq": :class:`SimVQConfig` and :class:`SimVQ`.

The codebook is not learned code by code. A frozen random basis B [K, d] (entries drawn from N(0, 1/d)) is mapped
by a learned linear layer W (d x d, no bias): the effective codes are C = B W^T, and the lookup is against C.
Every gradient step on W moves *every* code, used or not, so no code can be left behind where the encoder's
outputs no longer are: the paper's answer to codebook collapse.

Losses (as the paper and vector-quantize-pytorch's ``SimVQ``): the codebook term ||sg(z) - c||^2 trains the map,
the commitment term beta * ||z - sg(c)||^2 the encoder. The gradient reaches the encoder by the straight-through
estimator, or through the rotation trick (``rotation_trick=True``, the peer package's default).

It initializes itself when built (``own_init = "construction"``: the basis and the map's default initialization),
so ``codebook_init="own"`` keeps that; :meth:`SimVQ.initialize` (another initializer, e.g. k-means at a deferred
switch) fits the map by least squares, the effective codes then being the closest ones C = B W^T can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Quantizer, QuantizerConfig, VQOutput, check_size, nearest_code, register, rotate_to

__all__ = ["SimVQConfig", "SimVQ"]


@dataclass(frozen=True)
class SimVQConfig(QuantizerConfig):
    """The options of the SimVQ kind."""

    beta: float = 0.25  # weight of the encoder's commitment (the peer's input_to_quantize_commit_loss_weight)
    rotation_trick: bool = False  # the rotation trick instead of straight-through (the paper: straight-through)

    def __post_init__(self):
        self._check_number("beta", 0.0)
        self._check_bool("rotation_trick")


@register("simvq")
class SimVQ(Quantizer):
    """SimVQ over vectors of size ``dim`` with ``num_codes`` codes: a frozen basis (buffer ``basis``) through a
    learned linear map (``code_transform``). Satisfies :class:`~vqlib.quantizers.QuantizerLike`; its effective
    codebook is ``codes()`` = ``code_transform(basis)``."""

    config_class = SimVQConfig
    own_init = "construction"

    def __init__(self, num_codes: int, dim: int, *, beta: float = 0.25, rotation_trick: bool = False,
                 chunk_size: int = 8192, active: bool = True) -> None:
        super().__init__()
        check_size(num_codes, dim)
        SimVQConfig(beta=beta, rotation_trick=rotation_trick)
        self.num_codes = int(num_codes)
        self.dim = self.code_dim = int(dim)
        self.beta = float(beta)
        self.rotation_trick = bool(rotation_trick)
        self.chunk_size = int(chunk_size)
        self.active = bool(active)
        # the draws in the peer's order: the basis, then the map
        self.register_buffer("basis", torch.randn(self.num_codes, self.dim) * self.dim ** -0.5)
        self.code_transform = nn.Linear(self.dim, self.dim, bias=False)
        self.project_out = nn.Identity()  # the codes live in the vectors' space

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        return z.float()

    def codebook(self) -> torch.Tensor:
        """The effective codes with their gradient to the map, [num_codes, dim]."""
        return self.code_transform(self.basis)

    def codes(self) -> torch.Tensor:
        return self.codebook().detach().float()

    @torch.no_grad()
    def initialize(self, codebook: torch.Tensor) -> None:
        """Fit the map by least squares so that the effective codes B W^T come closest to ``codebook``
        [num_codes, dim] (exactly reachable only within what a linear map of the basis can reach)."""
        if codebook.shape != (self.num_codes, self.dim):
            raise ValueError(f"codebook must have shape {(self.num_codes, self.dim)} (K, dim), got "
                             f"{tuple(codebook.shape)}")
        if not torch.isfinite(codebook).all():
            raise ValueError("codebook holds non-finite values: SimVQ cannot fit its map to them")
        solution = torch.linalg.lstsq(self.basis.double(), codebook.double()).solution  # [dim, dim] = W^T
        self.code_transform.weight.copy_(solution.t().to(self.code_transform.weight.dtype))

    def quantize(self, z: torch.Tensor) -> VQOutput:
        input_dtype = z.dtype
        z = self.embed(z)
        codebook = self.codebook()
        indices, _ = nearest_code(z, codebook, self.chunk_size)
        z_q = F.embedding(indices, codebook)  # with its gradient to the map
        codebook_loss = F.mse_loss(z_q, z.detach())
        commitment = F.mse_loss(z, z_q.detach())
        loss = codebook_loss + self.beta * commitment
        quantized = rotate_to(z, z_q) if self.rotation_trick else z + (z_q - z).detach()
        return VQOutput(quantized.to(input_dtype), indices, loss, commitment.detach(), codebook_loss.detach())

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, beta={self.beta}, rotation_trick={self.rotation_trick}, "
                f"active={self.active}")
