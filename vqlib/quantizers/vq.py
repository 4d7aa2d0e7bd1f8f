"""vqlib's vector-quantization layer (the kind "vqlib"): :class:`VQConfig` and :class:`VectorQuantizer`.

One layer, opt-in switches (the fields of :class:`VQConfig`):

- nearest code by Euclidean distance, computed as ||z||^2 - 2 z.e + ||e||^2 (a matrix product, never an
  N x K x d tensor), in chunks of rows so memory stays bounded for large N x K;
- straight-through estimator: the forward pass uses the code, the backward pass copies the gradient to z;
  ``rotation_trick=True``: the backward pass goes through a rotation of z onto its code instead
  (:func:`~vqlib.quantizers.base.rotate_to`, Fifty et al. 2024), so the gradient carries angle and norm;
- losses: commitment beta * ||z - sg(e)||^2 and, unless EMA updates are on, codebook ||sg(z) - e||^2;
- ``ema=True``: the codebook follows exponential moving averages of the embeddings assigned to each
  code (van den Oord et al. 2017), the paper's baseline, instead of a codebook loss;
- ``dead_code_threshold > 0``: codes whose moving-average usage falls below the threshold are replaced by
  embeddings from the current batch (after the EMA update, so the replacement survives it), drawn with a
  generator the layer owns (``seed``, :meth:`VectorQuantizer.manual_seed`), never the global one;
- ``online_clustering=True``: CVQ-VAE's online clustered codebook (Zheng & Vedaldi, arXiv 2307.15139): every
  training step each code is pulled toward the batch embedding closest to it, at a rate exp(-10 K p_k / (1 -
  decay) - 0.001) that vanishes for codes in use (p_k: the code's moving-average share of the tokens, starting
  at 0), so only rarely used codes move - a gentle, deterministic relative of dead-code re-initialization;
- ``cosine=True``: embeddings and codes are l2-normalized before the lookup;
- ``code_dim < dim``: a low-dimensional lookup (project in, quantize, project out);
- ``active=False``: a pass-through for the continuous phase of deferred quantization.

All VQ arithmetic runs in float32 whatever the input dtype (codes are lost in bf16). Under torch.distributed
(:mod:`vqlib.distributed`) the EMA statistics are summed over ranks and dead codes are replaced by rank 0
and broadcast, in training steps only: evaluation-mode calls never enter a collective.

The codebook is a parameter of this layer and only this layer writes it: :meth:`VectorQuantizer.initialize`
(asked by the trainer at the quantization switch), the EMA update (:meth:`VectorQuantizer.update`) and the
dead-code revival (:meth:`VectorQuantizer.revive`), both from its training-mode forward.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from .base import Quantizer, QuantizerConfig, VQOutput, check_size, nearest_code, register, rotate_to

__all__ = ["VQConfig", "VectorQuantizer"]


@dataclass(frozen=True)
class VQConfig(QuantizerConfig):
    """The options of vqlib's layer (the kind "vqlib"); the defaults are the plain layer's (codebook loss, no
    EMA). :class:`vqlib.experiments.ModelSpec` sets them from its fields of the same names."""

    beta: float = 0.25  # commitment weight
    ema: bool = False  # EMA codebook updates instead of the codebook loss
    decay: float = 0.99  # of the moving averages
    eps: float = 1e-5  # Laplace smoothing of the EMA counts
    dead_code_threshold: float = 0.0  # revive codes whose moving-average count falls below it (0: never)
    cosine: bool = False  # l2-normalized embeddings and codes
    code_dim: int | None = None  # a low-dimensional lookup (None: the vectors' size)
    rotation_trick: bool = False  # gradients through the rotation trick instead of the straight-through copy
    online_clustering: bool = False  # CVQ-VAE: pull rarely used codes toward their closest batch embeddings

    def __post_init__(self):
        self._check_bool("ema", "cosine", "rotation_trick", "online_clustering")
        self._check_number("beta", 0.0)
        self._check_number("decay", 0.0, 1.0)
        self._check_number("eps", 0.0)
        self._check_number("dead_code_threshold", 0.0)
        code_dim = self.code_dim
        if code_dim is not None and (isinstance(code_dim, bool) or not isinstance(code_dim, numbers.Integral)
                                     or code_dim < 1):
            self._fail("code_dim", "an integer >= 1 or None")

    def check(self, num_codes: int, dim: int) -> None:
        if self.code_dim is not None and not self.code_dim <= dim:
            raise ValueError(f"code_dim must be an integer in [1, dim={dim}] or None, got {self.code_dim!r}")


@register("vqlib")
class VectorQuantizer(Quantizer):
    """Vector quantizer over vectors of size ``dim`` with a codebook of ``num_codes`` codes.

    Input: a tensor [N, dim] (models flatten their spatial grid before calling it). Output: :class:`VQOutput`.
    The codebook starts as a standard-normal draw; call :meth:`initialize` (or let the trainer do so at the
    quantization switch) to set it from an initializer in :mod:`vqlib.init`. The keyword options are the
    fields of :class:`VQConfig` (checked there); ``VectorQuantizer.from_config(config, K, dim)`` builds it
    from one.
    """

    config_class = VQConfig

    def __init__(
        self,
        num_codes: int,
        dim: int,
        *,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: float = 0.0,
        cosine: bool = False,
        code_dim: int | None = None,
        rotation_trick: bool = False,
        online_clustering: bool = False,
        chunk_size: int = 8192,
        active: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_size(num_codes, dim)
        VQConfig(beta=beta, ema=ema, decay=decay, eps=eps, dead_code_threshold=dead_code_threshold, cosine=cosine,
                 code_dim=code_dim, rotation_trick=rotation_trick, online_clustering=online_clustering
                 ).check(num_codes, dim)
        self.num_codes = int(num_codes)
        self.dim = int(dim)
        self.code_dim = int(code_dim) if code_dim is not None else self.dim
        self.beta = float(beta)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.eps = float(eps)
        self.dead_code_threshold = float(dead_code_threshold)
        self.cosine = bool(cosine)
        self.rotation_trick = bool(rotation_trick)
        self.online_clustering = bool(online_clustering)
        self.chunk_size = int(chunk_size)
        self.active = bool(active)

        if self.code_dim != self.dim:
            self.project_in = nn.Linear(self.dim, self.code_dim)
            self.project_out = nn.Linear(self.code_dim, self.dim)
        else:
            self.project_in = nn.Identity()
            self.project_out = nn.Identity()
        # With EMA updates the codebook is not trained by gradients.
        self.codebook = nn.Parameter(torch.randn(self.num_codes, self.code_dim), requires_grad=not self.ema)
        # Moving average of how many vectors each code receives per step (both modes: it drives dead-code
        # re-initialization) and, with EMA, of the sum of those vectors.
        self.register_buffer("cluster_size", torch.ones(self.num_codes))
        self.register_buffer("embed_sum", self.codebook.detach().clone())
        self.register_buffer("replaced_codes", torch.zeros((), dtype=torch.long))
        if self.online_clustering:  # CVQ-VAE's moving-average share of the tokens per code, from 0 (only then:
            # the state dicts of layers without the switch stay as they were)
            self.register_buffer("usage_share", torch.zeros(self.num_codes))
        # batches whose non-finite inputs were kept out of the statistics
        self.register_buffer("nonfinite_batches", torch.zeros((), dtype=torch.long), persistent=False)
        self.seed = int(seed)
        self._generator: torch.Generator | None = None  # made on first use, on the inputs' device

    def manual_seed(self, seed: int) -> None:
        """Restart the generator that picks dead-code replacements from ``seed``."""
        self.seed = int(seed)
        self._generator = None

    def generator_state(self) -> dict | None:
        """The dead-code generator's state (for checkpoints); None before its first use."""
        if self._generator is None:
            return {"seed": self.seed, "state": None}
        return {"seed": self.seed, "state": self._generator.get_state(), "device": str(self._generator.device)}

    def set_generator_state(self, state: dict) -> None:
        """Restore :meth:`generator_state`."""
        self.manual_seed(state["seed"])
        if state.get("state") is not None:
            self._generator = torch.Generator(device=state["device"])
            self._generator.set_state(state["state"])

    # -- the lookup space ---------------------------------------------------------------------------------
    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """Map encoder outputs [N, dim] into the space the codebook lives in (projected, normalized)."""
        z = self.project_in(z.float())
        return F.normalize(z, dim=-1) if self.cosine else z

    def codes(self) -> torch.Tensor:
        """The codebook as used for the lookup (normalized when ``cosine``), detached, [K, code_dim]."""
        codebook = self.codebook.detach().float()
        return F.normalize(codebook, dim=-1) if self.cosine else codebook

    # -- state changes ------------------------------------------------------------------------------------
    @torch.no_grad()
    def initialize(self, codebook: torch.Tensor) -> None:
        """Set the codebook (e.g. from k-means) and restart the moving averages around it.

        The EMA statistics are reset so that every code starts with a count of one vector located at the
        code: the first EMA update then moves a code only towards vectors it actually receives. (Resetting
        the sums to zero instead would pull every code towards the origin on the next step and collapse
        usage right after k-means, a classic bug.)
        """
        if codebook.shape != self.codebook.shape:
            raise ValueError(f"codebook must have shape {tuple(self.codebook.shape)} (K, code_dim), got "
                             f"{tuple(codebook.shape)}")
        self.codebook.data.copy_(codebook.float())
        self.cluster_size.fill_(1.0)
        self.embed_sum.copy_(self.codebook.detach())
        if self.online_clustering:
            self.usage_share.zero_()

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """The moving-average usage of every code and, with EMA, the codebook (from a training-mode lookup)."""
        # Non-finite inputs must not reach the moving averages: one NaN row would make every statistic, and
        # through the EMA the whole codebook, NaN for good. Such a batch leaves them unchanged. The choice is
        # made on the device (torch.where), without a host synchronization; the trainer then stops at the
        # non-finite loss.
        finite = torch.isfinite(z).all()
        counts = torch.bincount(indices, minlength=self.num_codes).float()
        sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, z) if self.ema else None
        if distributed.is_distributed():
            # Under data parallelism each rank saw a shard of the global batch: sum the counts, the sums and the
            # non-finite flags over ranks in one collective, so every replica applies the same global update
            # (without it each codebook follows its own shard and the replicas drift apart).
            parts = [counts, (~finite).float().reshape(1)] + ([sums.flatten()] if sums is not None else [])
            flat = distributed.all_reduce_sum(torch.cat(parts))
            counts, finite = flat[:self.num_codes], flat[self.num_codes] == 0
            if sums is not None:
                sums = flat[self.num_codes + 1:].view_as(self.embed_sum)
        self.nonfinite_batches += (~finite).long()
        if self.online_clustering:
            share = torch.add(self.usage_share.mul(self.decay), counts / counts.sum().clamp(min=1.0),
                              alpha=1.0 - self.decay)
            self.usage_share.copy_(torch.where(finite, share, self.usage_share))
        cluster_size = torch.add(self.cluster_size.mul(self.decay), counts, alpha=1.0 - self.decay)
        self.cluster_size.copy_(torch.where(finite, cluster_size, self.cluster_size))
        if self.ema:
            embed_sum = torch.add(self.embed_sum.mul(self.decay), sums, alpha=1.0 - self.decay)
            self.embed_sum.copy_(torch.where(finite, embed_sum, self.embed_sum))
            # Laplace smoothing keeps codes with tiny counts from dividing by ~0.
            total = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
            codebook = self.embed_sum / smoothed.unsqueeze(1)
            self.codebook.data.copy_(F.normalize(codebook, dim=-1) if self.cosine else codebook)

    @torch.no_grad()
    def revive(self, z: torch.Tensor) -> None:
        """Replace the codes whose moving-average usage is below ``dead_code_threshold`` by rows of ``z``."""
        if not distributed.is_distributed():
            dead, rows = self._dead_code_plan(z)
            if dead is not None:
                self._revive(dead, rows)
            return
        # Decided once: rank 0 picks the dead codes and their replacements from the whole global batch (every
        # rank's shard in rank order: the rows one process would see) and every rank applies exactly that.
        # Only the decision travels (a mask and rows), not the buffers, so a replica whose statistics drifted
        # is not papered over. Every rank enters these collectives on every training step, whatever rank 0
        # finds: no rank branches on its own floats, none is left waiting.
        everyone = distributed.gather_rows(z)
        mask = torch.zeros(self.num_codes, dtype=torch.uint8, device=z.device)
        rows = torch.zeros(self.num_codes, z.shape[1], dtype=z.dtype, device=z.device)
        if distributed.rank() == 0:
            dead, picked = self._dead_code_plan(everyone)
            if dead is not None:
                mask[dead], rows[dead] = 1, picked
        distributed.broadcast(mask)
        distributed.broadcast(rows)
        dead = torch.nonzero(mask).flatten()
        if dead.numel():
            self._revive(dead, rows[dead])

    def _dead_code_plan(self, z: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The codes to revive (usage below the threshold) and a random row of ``z`` for each, or (None, None)."""
        dead = torch.nonzero(self.cluster_size < self.dead_code_threshold).flatten()
        if dead.numel() == 0 or not bool(torch.isfinite(z).all()):  # never revive a code as a NaN
            return None, None
        if self._generator is None or self._generator.device != z.device:
            self._generator = torch.Generator(device=z.device).manual_seed(self.seed)
        # Random embeddings of this batch; with fewer vectors than dead codes, reuse them.
        pick = torch.randint(0, z.shape[0], (dead.numel(),), device=z.device, generator=self._generator)
        return dead, z[pick]

    def _revive(self, dead: torch.Tensor, rows: torch.Tensor) -> None:
        self.codebook.data[dead] = rows
        # Restart the revived codes' statistics at the threshold so that the next EMA update keeps them
        # where they were put instead of overwriting them from stale sums.
        self.cluster_size[dead] = self.dead_code_threshold
        self.embed_sum[dead] = rows * self.dead_code_threshold
        self.replaced_codes += dead.numel()

    def online_rates(self) -> torch.Tensor:
        """CVQ-VAE's rate per code: exp(-10 K p_k / (1 - decay) - 0.001), p_k its share of the tokens (moving
        average): about 1 for a code nobody uses, vanishing once a code takes a fair share (p_k near 1/K)."""
        return torch.exp(-(self.usage_share * self.num_codes * 10.0) / (1.0 - self.decay) - 1e-3)

    @torch.no_grad()
    def cluster_online(self, z: torch.Tensor) -> None:
        """Pull every code toward the embedding of ``z`` (all ranks' rows) closest to it, at
        :meth:`online_rates` (CVQ-VAE's "closest" anchor). Deterministic: every rank moves the same codes the same
        way. A batch with non-finite rows leaves the codebook alone."""
        everyone = distributed.gather_rows(z)
        if not bool(torch.isfinite(everyone).all()):
            return
        codebook = self.codebook.detach().float()
        # each code's closest row: the nearest-code search with the roles swapped (codes as queries, rows as codes)
        anchors = everyone[nearest_code(codebook, everyone, self.chunk_size)[0]]
        rate = self.online_rates().unsqueeze(1)
        moved = codebook * (1 - rate) + anchors * rate
        self.codebook.data.copy_(F.normalize(moved, dim=-1) if self.cosine else moved)
        if self.ema:  # the moving averages follow, so the next EMA step keeps the codes where they were put
            self.embed_sum.copy_(self.codebook.detach() * self.cluster_size.unsqueeze(1))

    # -- forward (Quantizer.forward: shape check, pass-through when inactive, float32) ---------------------
    def quantize(self, z: torch.Tensor) -> VQOutput:
        zero = z.new_zeros((), dtype=torch.float32)

        input_dtype = z.dtype
        z_lookup = self.embed(z)  # float32
        codebook = self.codebook.float()
        if self.cosine:
            codebook = F.normalize(codebook, dim=-1)
        indices, _ = nearest_code(z_lookup, codebook, self.chunk_size)
        z_q = F.embedding(indices, codebook)  # a gather, never a one-hot product

        commitment = F.mse_loss(z_lookup, z_q.detach())
        if self.ema:
            codebook_loss = zero
        else:
            codebook_loss = F.mse_loss(z_q, z_lookup.detach())
        loss = self.beta * commitment + codebook_loss

        if self.training:
            self.update(z_lookup.detach(), indices)
            if self.dead_code_threshold > 0:
                self.revive(z_lookup.detach())
            if self.online_clustering:
                self.cluster_online(z_lookup.detach())

        if self.rotation_trick:  # forward value z_q, gradient through the rotation of z_lookup onto z_q
            quantized = rotate_to(z_lookup, z_q)
        else:  # straight-through: forward value z_q, gradient of the identity to z_lookup
            quantized = z_lookup + (z_q - z_lookup).detach()
        quantized = self.project_out(quantized).to(input_dtype)
        return VQOutput(quantized, indices, loss, commitment.detach(), codebook_loss.detach())

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, code_dim={self.code_dim}, beta={self.beta}, "
                f"ema={self.ema}, decay={self.decay}, dead_code_threshold={self.dead_code_threshold}, "
                f"cosine={self.cosine}, rotation_trick={self.rotation_trick}, "
                f"online_clustering={self.online_clustering}, active={self.active}")

