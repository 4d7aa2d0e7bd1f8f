"""vector-quantize-pytorch's ``VectorQuantize`` behind vqlib's quantizer interface (the kind
"vector-quantize-pytorch", the outside reference): :class:`PeerConfig` and :class:`PeerQuantizer`.

Lets the studies run lucidrains' layer, with its own k-means initialization on the first batch and its
dead-code expiry, through the same models, training loop and metrics as vqlib's own layer. The package is a
``dev`` extra; it is imported only when this kind is built. Note that ``VectorQuantize`` 1.32 turns the
rotation trick on by default (``rotation_trick=None``: on when dim > 1), and this layer leaves it at that
default unless :attr:`PeerConfig.rotation_trick` says otherwise: the kind as the studies first ran it is
rotation trick + EMA, not plain straight-through; ``PeerConfig(rotation_trick=False)`` is the peer with the
straight-through estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Quantizer, QuantizerConfig, VQOutput, check_size, register

__all__ = ["PeerConfig", "PeerQuantizer"]


@dataclass(frozen=True)
class PeerConfig(QuantizerConfig):
    """The options of the vector-quantize-pytorch kind. :class:`vqlib.experiments.ModelSpec` sets ``beta``,
    ``decay`` and ``dead_code_threshold`` from its fields of the same names and ``kmeans_init`` from
    ``peer_kmeans_init``."""

    beta: float = 0.25  # its commitment_weight
    decay: float = 0.99  # of its EMA codebook updates
    dead_code_threshold: float = 0.0  # its threshold_ema_dead_code (0: no expiry)
    kmeans_init: bool = True  # its own k-means on the first training batch (False: its random codebook)
    kmeans_iters: int = 10
    rotation_trick: bool | None = None  # its rotation_trick (None: the package's default, on when dim > 1)

    def __post_init__(self):
        self._check_number("beta", 0.0)
        self._check_number("decay", 0.0, 1.0)
        self._check_number("dead_code_threshold", 0.0)
        self._check_bool("kmeans_init")
        if self.rotation_trick is not None:
            self._check_bool("rotation_trick")
        if isinstance(self.kmeans_iters, bool) or not isinstance(self.kmeans_iters, int) or self.kmeans_iters < 1:
            self._fail("kmeans_iters", "an integer >= 1")


@register("vector-quantize-pytorch")
class PeerQuantizer(Quantizer):
    """``vector_quantize_pytorch.VectorQuantize`` with EMA updates (decay), commitment weight ``beta``,
    k-means initialization on its first training batch (``kmeans_init``) and dead-code expiry below
    ``dead_code_threshold`` (its ``threshold_ema_dead_code``). Satisfies :class:`~vqlib.quantizers.QuantizerLike`.

    Its k-means and its dead-code expiry draw from torch's global random generator (the package offers no
    other); :func:`vqlib.train.train` seeds that inside a fork, so runs stay deterministic. It initializes
    itself (``codebook_init="own"`` keeps its k-means on the first batch, or its random codebook)."""

    config_class = PeerConfig
    own_init = "first-batch"
    built_before_model = True  # as when its runs were cached: its random codebook is drawn before the encoder

    def __init__(self, num_codes: int, dim: int, *, beta: float = 0.25, decay: float = 0.99,
                 dead_code_threshold: float = 0.0, kmeans_init: bool = True, kmeans_iters: int = 10,
                 rotation_trick: bool | None = None, active: bool = True) -> None:
        super().__init__()
        try:
            from vector_quantize_pytorch import VectorQuantize
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("the 'vector-quantize-pytorch' quantizer needs the package of that name: "
                              "pip install vector-quantize-pytorch (it is in vqlib's dev extra)") from error
        check_size(num_codes, dim)
        PeerConfig(beta=beta, decay=decay, dead_code_threshold=dead_code_threshold, kmeans_init=kmeans_init,
                   kmeans_iters=kmeans_iters, rotation_trick=rotation_trick)
        # rotation_trick=None is left out, so the package decides as it did when the first runs were cached
        own = {} if rotation_trick is None else {"rotation_trick": rotation_trick}
        self.layer = VectorQuantize(dim=dim, codebook_size=num_codes, decay=decay, commitment_weight=beta,
                                    kmeans_init=kmeans_init, kmeans_iters=kmeans_iters,
                                    threshold_ema_dead_code=dead_code_threshold, **own)
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
        # Not Quantizer.forward: the package's layer runs as it does on its own (its autocast handling included).
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"PeerQuantizer expects [N, {self.dim}] inputs, got {tuple(z.shape)}")
        zero = z.new_zeros((), dtype=torch.float32)
        if not self.active:
            return VQOutput(z, None, zero, zero, zero)
        quantized, indices, loss = self.layer(z.unsqueeze(0))
        loss = loss.sum()
        return VQOutput(quantized.squeeze(0), indices.squeeze(0), loss, loss.detach(), zero)
