"""What every quantizer kind shares: the nearest-code lookup, the forward contract (:class:`VQOutput`), the
interface the models and the training loop use (:class:`Quantizer`, :class:`QuantizerLike`), the base of the
kinds' configs (:class:`QuantizerConfig`) and the registry of kinds by name.

A kind is one module: a frozen config dataclass that checks its own fields, and a :class:`Quantizer`
subclass registered under a name with :func:`register`. The training loop never writes a quantizer's
codebook; it asks the quantizer:

- ``initialize(codebook)``: take these effective codes [K, code_dim] (an initializer of :mod:`vqlib.init` made
  them from the current encoder's embeddings in the quantizer's lookup space, ``embed``);
- ``initialize_from_embeddings(embeddings, generator)``: initialize yourself from this sample of embeddings
  (in the lookup space), for a kind whose own initialization (``codebook_init="own"``) needs one
  (``own_init = "embeddings"``); a kind with ``own_init = "first-batch"`` initializes itself in its first
  training forward, one with ``own_init = "construction"`` when it is built; a kind with ``own_init = None``
  has no initialization of its own;
- ``update`` and ``revive``: the kind's own hooks, called from its training-mode forward (EMA statistics,
  dead-code replacement), so a kind whose codes are not a parameter (SimVQ: a frozen basis through a learned
  map) keeps them its way;
- ``codes()`` (the effective codebook, detached) and ``embed(z)`` (the lookup space): what evaluation, the
  metrics, tokenization and the diagnostics read.

This module imports nothing else of vqlib: the initializers (:mod:`vqlib.init`) build on :func:`nearest_code`,
so this layer sits below them.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

__all__ = ["nearest_code", "rotate_to", "VQOutput", "QuantizerLike", "QuantizerConfig", "Quantizer", "OWN_INITS",
           "register", "unregister", "get", "build", "REGISTRY", "check_size"]

#: what ``codebook_init="own"`` means for a kind (``Quantizer.own_init``): None, it has no initialization of
#: its own; "first-batch", it initializes itself in its first training forward (the loop only switches it
#: on); "embeddings", the loop hands it a sample of the current encoder's embeddings in its lookup space;
#: "construction", its codes were drawn when it was built (SimVQ's frozen random basis; the loop only switches
#: it on).
OWN_INITS = (None, "first-batch", "embeddings", "construction")


def nearest_code(z: torch.Tensor, codebook: torch.Tensor, chunk_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of and squared distance to the nearest code for each row of ``z``.

    dist(i, k) = ||z_i||^2 - 2 z_i . e_k + ||e_k||^2, evaluated ``chunk_size`` rows at a time so that at
    most chunk_size x K distances exist at once. Returns (indices [N] int64, squared distances [N]).
    """
    if z.ndim != 2 or codebook.ndim != 2 or z.shape[1] != codebook.shape[1]:
        raise ValueError(f"nearest_code needs z [N, d] and codebook [K, d]; got {tuple(z.shape)} and "
                         f"{tuple(codebook.shape)}")
    z = z.detach().float()
    codebook = codebook.detach().float()
    code_sq = codebook.pow(2).sum(1)
    indices = torch.empty(z.shape[0], dtype=torch.long, device=z.device)
    min_dist = torch.empty(z.shape[0], dtype=torch.float32, device=z.device)
    for start in range(0, z.shape[0], chunk_size):
        rows = z[start:start + chunk_size]
        # addmm fuses  ||e||^2 - 2 z e^T ; ||z||^2 is constant per row so it does not change the argmin,
        # it is added back only to report the true squared distance.
        dist = torch.addmm(code_sq, rows, codebook.t(), alpha=-2.0)
        # min(dim).indices is about twice as fast as argmin on CPU for large K.
        best = dist.min(dim=1)
        indices[start:start + chunk_size] = best.indices
        min_dist[start:start + chunk_size] = (best.values + rows.pow(2).sum(1)).clamp_min(0.0)
    return indices, min_dist


#: the smallest norm :func:`rotate_to` divides by (vector-quantize-pytorch's ``safe_div``)
ROTATION_EPS = 1e-6


def rotate_to(z: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """The rotation trick (Fifty et al., arXiv 2410.06424, section 4.2), in place of the straight-through copy.

    Forward: the value ``code`` (each row of ``z`` rotated onto its code's direction and rescaled to its norm).
    Backward: the gradient reaches ``z`` through that rotation and rescale, both treated as constants, so it
    carries the angle between the two and their norms instead of being copied unchanged. ``code`` gets no
    gradient here (as under the straight-through estimator: the codebook learns from its own loss or EMA).
    Written after vector-quantize-pytorch's ``rotate_to`` (the same arithmetic, rows [N, d]): the reflection
    form R e = e - 2 (e.w) w + 2 (e.u) q with u = e/|e|, q = code/|code|, w = (u + q)/|u + q|."""
    norm_z = z.norm(dim=-1, keepdim=True)
    norm_code = code.norm(dim=-1, keepdim=True)
    u = (z / norm_z.clamp(min=ROTATION_EPS)).detach()
    q = (code / norm_code.clamp(min=ROTATION_EPS)).detach()
    w = torch.nn.functional.normalize(u + q, dim=-1, eps=ROTATION_EPS)
    rotated = z - 2 * (z * w).sum(-1, keepdim=True) * w + 2 * (z * u).sum(-1, keepdim=True) * q
    return rotated * (norm_code / norm_z.clamp(min=ROTATION_EPS)).detach()


@dataclass
class VQOutput:
    """What every quantizer returns.

    quantized: z_q with the quantizer's gradient (straight-through for vqlib's layer), same shape as the input
        (the input itself when the layer is inactive);
    indices: nearest-code index per vector, shape [N] (None when inactive);
    loss: the VQ loss to add to the reconstruction loss (beta * commitment + codebook; 0 when inactive);
    commitment_loss, codebook_loss: the two terms, unweighted, detached (codebook_loss is 0 with EMA).
    """

    quantized: torch.Tensor
    indices: torch.Tensor | None
    loss: torch.Tensor
    commitment_loss: torch.Tensor
    codebook_loss: torch.Tensor


@runtime_checkable
class QuantizerLike(Protocol):
    """What the models, the trainer, the metrics and tokenization need from a quantizer.

    Every registered kind (:class:`Quantizer`) satisfies it: vqlib's :class:`~vqlib.quantizers.vq.VectorQuantizer`
    and :class:`~vqlib.quantizers.peer.PeerQuantizer` (vector-quantize-pytorch's layer), so either can sit in a
    :class:`vqlib.models.VQAutoencoder`. The effective codebook is ``codes()``, whatever stores it.
    """

    num_codes: int
    dim: int  # size of the vectors it takes
    code_dim: int  # size of the codes (the lookup space)
    active: bool  # False: a pass-through (the continuous phase)
    chunk_size: int  # rows per nearest-code chunk

    def __call__(self, z: torch.Tensor) -> VQOutput: ...

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors [N, dim] -> the lookup space [N, code_dim]."""
        ...

    def codes(self) -> torch.Tensor:
        """The codebook as used for the lookup, detached, [num_codes, code_dim]."""
        ...

    def project_out(self, rows: torch.Tensor) -> torch.Tensor:
        """Codes [N, code_dim] -> vectors [N, dim] for the decoder."""
        ...

    def initialize(self, codebook: torch.Tensor) -> None:
        """Take ``codebook`` [num_codes, code_dim] as the effective codes (at the quantization switch)."""
        ...


def check_size(num_codes, dim) -> None:
    """num_codes (K) and dim must be integers >= 1 (the message names the one that is not)."""
    if int(num_codes) != num_codes or num_codes < 1:
        raise ValueError(f"num_codes (K) must be an integer >= 1, got {num_codes!r}")
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")


@dataclass(frozen=True)
class QuantizerConfig:
    """Base of every kind's options: a small frozen dataclass whose ``__post_init__`` checks each field (the
    message names the class, the field and the allowed values) and whose :meth:`check` checks what needs the
    layer's size. Its fields are the keyword options of the kind's constructor."""

    def check(self, num_codes: int, dim: int) -> None:
        """Checks that need the layer's size (codes, input width); the base has none."""

    def _fail(self, name: str, allowed: str) -> None:
        raise ValueError(f"{type(self).__name__}.{name} must be {allowed}, got {getattr(self, name)!r}")

    def _check_bool(self, *names: str) -> None:
        for name in names:
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                self._fail(name, "True or False")

    def _check_number(self, name: str, low: float, high: float | None = None, *, low_open: bool = False,
                      high_open: bool = True) -> None:
        value = getattr(self, name)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (value > low if low_open else
                                                                                  value >= low)
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
            self._fail(name, f"a number in {left}{low:g}, {'inf' if high is None else f'{high:g}'}{right}")


class Quantizer(nn.Module):
    """Base of every registered kind. A subclass sets :attr:`config_class`, implements ``embed``, ``codes``,
    ``initialize`` and :meth:`quantize` (the active forward, called in float32 with autocast off), has a
    ``project_out`` (a module or method: codes -> the decoder's vectors), and sets ``num_codes``, ``dim``,
    ``code_dim``, ``chunk_size`` and ``active``. It writes its own codes: the trainer only calls the methods
    below. Construct one from its config with :meth:`from_config` (or :func:`build` by name)."""

    #: the registry name (set by :func:`register`)
    kind: ClassVar[str] = ""
    #: the kind's frozen, validated options
    config_class: ClassVar[type[QuantizerConfig]] = QuantizerConfig
    #: what ``codebook_init="own"`` means for it (:data:`OWN_INITS`)
    own_init: ClassVar[str | None] = None
    #: built before the autoencoder's own layers (its random draws come first), not in the quantizer's place
    #: inside it. Only the vector-quantize-pytorch kind, which was built so when its runs were cached.
    built_before_model: ClassVar[bool] = False

    num_codes: int
    dim: int
    code_dim: int
    chunk_size: int = 8192
    active: bool = True

    @classmethod
    def from_config(cls, config: QuantizerConfig, num_codes: int, dim: int, **layer) -> Quantizer:
        """The layer for ``config`` with ``num_codes`` codes over vectors of size ``dim`` (``layer``: options
        that are not the kind's config, e.g. ``active``)."""
        if type(config) is not cls.config_class:
            raise TypeError(f"quantizer {cls.kind or cls.__name__!r} takes a {cls.config_class.__name__}, got "
                            f"{type(config).__name__}")
        check_size(num_codes, dim)
        config.check(num_codes, dim)
        options = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        return cls(num_codes, dim, **options, **layer)

    @classmethod
    def accepts_init(cls, name: str) -> bool:
        """Whether the trainer may start it with the initializer ``name`` of :mod:`vqlib.init` ("own": only a
        kind with an initialization of its own)."""
        return name != "own" or cls.own_init is not None

    @property
    def device(self) -> torch.device:
        """Where its parameters and buffers live."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    # -- the lookup space ---------------------------------------------------------------------------------
    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors [N, dim] -> the lookup space [N, code_dim] (float32)."""
        raise NotImplementedError

    def codes(self) -> torch.Tensor:
        """The effective codebook as used for the lookup, detached, [num_codes, code_dim]."""
        raise NotImplementedError

    # -- what the trainer asks ----------------------------------------------------------------------------
    def initialize(self, codebook: torch.Tensor) -> None:
        """Take ``codebook`` [num_codes, code_dim] as the effective codes and restart any statistics."""
        raise NotImplementedError

    def initialize_from_embeddings(self, embeddings: torch.Tensor, generator: torch.Generator) -> None:
        """Initialize from a sample of embeddings [n, code_dim] in the lookup space (``own_init="embeddings"``);
        draw only from ``generator`` (every rank gets the same sample and generator state)."""
        raise NotImplementedError(f"quantizer {self.kind!r} has no initialization from embeddings")

    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """After a training-mode lookup of ``z`` (lookup space, detached): update the code statistics."""

    def revive(self, z: torch.Tensor) -> None:
        """After :meth:`update`: replace dead codes (from rows of ``z``, lookup space, detached)."""

    def manual_seed(self, seed: int) -> None:
        """Restart the generator the layer draws from (dead-code replacements); none in the base."""

    def generator_state(self) -> dict | None:
        """The layer's generator state (for checkpoints); None without one."""
        return None

    def set_generator_state(self, state: dict) -> None:
        """Restore :meth:`generator_state`."""

    # -- forward ------------------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> VQOutput:
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"{type(self).__name__} expects [N, {self.dim}] inputs, got {tuple(z.shape)}")
        zero = z.new_zeros((), dtype=torch.float32)
        if not self.active:
            return VQOutput(z, None, zero, zero, zero)
        # The lookup, the statistics and the losses stay float32 even inside a caller's bf16 autocast.
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.quantize(z)

    def quantize(self, z: torch.Tensor) -> VQOutput:
        """The active forward of ``z`` [N, dim]: lookup, losses, and in training mode ``update``/``revive``."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Quantizer]] = {}
#: every registered kind by name (read-only; :func:`register` adds to it)
REGISTRY = MappingProxyType(_REGISTRY)


def register(name: str) -> Callable[[type[Quantizer]], type[Quantizer]]:
    """Class decorator: register a :class:`Quantizer` subclass under ``name`` (what ``ModelSpec.quantizer``
    holds). Its ``config_class`` must be a frozen dataclass derived from :class:`QuantizerConfig`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a quantizer's name must be a non-empty string, got {name!r}")

    def add(cls: type[Quantizer]) -> type[Quantizer]:
        if not (isinstance(cls, type) and issubclass(cls, Quantizer)):
            raise TypeError(f"register({name!r}) takes a subclass of vqlib.quantizers.Quantizer, got {cls!r}")
        config = cls.config_class
        if (config is QuantizerConfig or not dataclasses.is_dataclass(config)
                or not issubclass(config, QuantizerConfig) or not config.__dataclass_params__.frozen):
            raise TypeError(f"quantizer {name!r}: config_class must be a frozen dataclass derived from "
                            f"QuantizerConfig, got {config!r}")
        if cls.own_init not in OWN_INITS:
            raise ValueError(f"quantizer {name!r}: own_init must be one of {OWN_INITS}, got {cls.own_init!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a quantizer named {name!r} is already registered ({_REGISTRY[name].__name__})")
        cls.kind = name
        _REGISTRY[name] = cls
        return cls

    return add


def unregister(name: str) -> None:
    """Remove the kind ``name`` from the registry (tests that register their own)."""
    get(name)
    del _REGISTRY[name]


def get(name: str) -> type[Quantizer]:
    """The registered kind ``name``; an unknown name is an error that lists the registered ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown quantizer {name!r}; choose one of {tuple(_REGISTRY)}")
    return _REGISTRY[name]


def build(name: str, config: QuantizerConfig | None, num_codes: int, dim: int, **layer) -> Quantizer:
    """The kind ``name``'s layer for ``config`` (None: the config's defaults)."""
    kind = get(name)
    return kind.from_config(config if config is not None else kind.config_class(), num_codes, dim, **layer)
