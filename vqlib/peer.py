"""vector-quantize-pytorch's ``VectorQuantize`` behind vqlib's quantizer interface (the outside reference).

Lets the studies run lucidrains' layer, with its own k-means initialization on the first batch and its
dead-code expiry, through the same models, training loop and metrics as vqlib's own layer. The package is a
``dev`` extra; it is imported only when this arm is used.
"""

from __future__ import annotations

import torch
from torch import nn

from .quantize import VQOutput

__all__ = ["PeerQuantizer"]


class PeerQuantizer(nn.Module):
    """``vector_quantize_pytorch.VectorQuantize`` with EMA updates (decay), commitment weight ``beta``,
    k-means initialization on its first training batch (``kmeans_init``) and dead-code expiry below
    ``dead_code_threshold`` (its ``threshold_ema_dead_code``). Satisfies :class:`vqlib.quantize.QuantizerLike`.

    Its k-means and its dead-code expiry draw from torch's global random generator (the package offers no
    other); :func:`vqlib.train.train` seeds that inside a fork, so runs stay deterministic."""

    def __init__(self, num_codes: int, dim: int, *, beta: float = 0.25, decay: float = 0.99,
                 dead_code_threshold: float = 0.0, kmeans_init: bool = True, kmeans_iters: int = 10,
                 active: bool = True) -> None:
        super().__init__()
        try:
            from vector_quantize_pytorch import VectorQuantize
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("the 'vector-quantize-pytorch' quantizer needs the package of that name: "
                              "pip install vector-quantize-pytorch (it is in vqlib's dev extra)") from error
        if int(num_codes) != num_codes or num_codes < 1:
            raise ValueError(f"num_codes (K) must be an integer >= 1, got {num_codes!r}")
        self.layer = VectorQuantize(dim=dim, codebook_size=num_codes, decay=decay, commitment_weight=beta,
                                    kmeans_init=kmeans_init, kmeans_iters=kmeans_iters,
                                    threshold_ema_dead_code=dead_code_threshold)
        self.num_codes = int(num_codes)
        self.dim = self.code_dim = int(dim)
        self.active = bool(active)
        self.chunk_size = 8192
        self.project_out = nn.Identity()  # no projection: the codes live in the vectors' space

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        return z.float()

    def codes(self) -> torch.Tensor:
        return self.layer.codebook.detach().float()

    @property
    def codebook(self) -> torch.Tensor:
        return self.layer.codebook

    @torch.no_grad()
    def initialize(self, codebook: torch.Tensor) -> None:
        """Set the codebook and mark it initialized (skips the layer's own k-means)."""
        inner = self.layer._codebook
        inner.embed.data.copy_(codebook.reshape(inner.embed.shape))
        inner.embed_avg.data.copy_(inner.embed.data)
        inner.cluster_size.data.fill_(1.0)
        inner.initted.data.copy_(torch.tensor(True))

    def forward(self, z: torch.Tensor) -> VQOutput:
        zero = z.new_zeros((), dtype=torch.float32)
        if not self.active:
            return VQOutput(z, None, zero, zero, zero)
        quantized, indices, loss = self.layer(z.unsqueeze(0))
        loss = loss.sum()
        return VQOutput(quantized.squeeze(0), indices.squeeze(0), loss, loss.detach(), zero)
