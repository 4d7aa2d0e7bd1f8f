"""Where a quantizer looks its codes up: its codebook as used, and the map from its inputs to its lookup rows
(projection, cosine normalization, heads), for vqlib's quantizers and vector-quantize-pytorch's
``VectorQuantize``."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..quantize import QuantizerLike

__all__ = ["LookupSpace", "from_vqlib", "from_vector_quantize", "lookup_space"]


class LookupSpace(NamedTuple):
    """How a quantizer looks its codes up: ``embed`` maps the quantizer's input vectors [n, input_dim] to
    lookup rows [m, d] (projection, normalization, heads), ``codebook`` [K, d] is the codebook as used there."""

    embed: Callable[[torch.Tensor], torch.Tensor]
    codebook: torch.Tensor
    input_dim: int
    description: str


def from_vqlib(quantizer: QuantizerLike) -> LookupSpace:
    """The lookup space of vqlib's :class:`~vqlib.quantize.VectorQuantizer` (its ``project_in`` for a
    low-dimensional lookup, its normalization for cosine codes) or of any :class:`~vqlib.quantize.QuantizerLike`
    such as :class:`~vqlib.peer.PeerQuantizer`."""
    if not isinstance(quantizer, QuantizerLike):
        raise TypeError(f"from_vqlib takes a vqlib quantizer (VectorQuantizer, PeerQuantizer), got "
                        f"{type(quantizer).__name__}")
    codebook = quantizer.codes().float()

    @torch.no_grad()
    def embed(rows: torch.Tensor) -> torch.Tensor:
        return quantizer.embed(rows.to(codebook.device)).float()

    details = [f"{quantizer.dim} -> {quantizer.code_dim} projection"] if quantizer.code_dim != quantizer.dim else []
    if getattr(quantizer, "cosine", False):
        details.append("cosine codes")
    if getattr(quantizer, "kind", "") == "simvq":  # its effective codes: the frozen basis through the learned map
        details.append("codes: basis through its learned map")
    if getattr(quantizer, "kind", "") == "fsq":  # no learned codebook: the grid of its levels is the codebook
        details.append(f"implicit grid, levels {tuple(quantizer.levels)}")
    description = f"vqlib {type(quantizer).__name__}" + (f" ({', '.join(details)})" if details else "")
    return LookupSpace(embed, codebook, int(quantizer.dim), description)


def from_vector_quantize(layer, head: int | None = None) -> LookupSpace:
    """The lookup space of vector-quantize-pytorch's ``VectorQuantize``: its ``project_in`` (when
    ``codebook_dim`` differs from ``dim``), its l2 normalization of inputs and codes (``use_cosine_sim=True``;
    the nearest unit code in distance is the one of largest cosine, the layer's choice), and its heads.

    Several heads sharing one codebook (``heads > 1``): every head's slice of a vector is one lookup row, all
    pooled (the layer's indices [..., heads] flattened); ``head=i`` keeps head i's rows only. Separate
    codebooks per head (``separate_codebook_per_head=True``): one head at a time, ``head`` is required.
    Unsupported variants raise (see :mod:`vqlib.diagnose`). The layer is used as it is (no training step):
    put it in ``eval()`` mode, as its lookup in training mode may sample codes stochastically.
    """
    try:
        from vector_quantize_pytorch import VectorQuantize
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("from_vector_quantize needs the package vector-quantize-pytorch") from error
    if not isinstance(layer, VectorQuantize):
        raise TypeError(f"from_vector_quantize takes a vector_quantize_pytorch.VectorQuantize, got "
                        f"{type(layer).__name__}. Residual, grouped and other multi-codebook quantizers (ResidualVQ, "
                        f"GroupedResidualVQ, ...) are not supported: diagnose each VectorQuantize in their .layers "
                        f"on the residual it receives. FSQ and LFQ have no codebook to diagnose.")
    inner = layer._codebook
    if getattr(inner, "affine_param", False):
        raise ValueError("VectorQuantize(affine_param=True) is not supported: its codes are moved by running batch "
                         "statistics before the lookup, so the stored codebook is not the one used")
    if getattr(inner, "vq_bridge", None) is not None:
        raise ValueError("VectorQuantize(vq_bridge=...) is not supported: its codes pass through a network before "
                         "the lookup, so the stored codebook is not the one used")
    heads, separate = int(layer.heads), bool(layer.separate_codebook_per_head)
    if head is not None and not (isinstance(head, int) and 0 <= head < heads):
        raise ValueError(f"head must be an integer in [0, {heads}) for this layer (heads={heads}), got {head!r}")
    codebooks = inner.embed.detach().float()  # [codebooks, K, code_dim]: one, or one per head
    if separate and heads > 1 and head is None:
        raise ValueError(f"this VectorQuantize has a separate codebook per head (heads={heads}): diagnose one head "
                         f"at a time with from_vector_quantize(layer, head=i), i in 0..{heads - 1}")
    codebook = codebooks[head if separate and head is not None else 0]
    code_dim = codebook.shape[1]
    cosine = bool(layer.use_cosine_sim)
    if cosine:
        codebook = F.normalize(codebook, dim=-1)

    @torch.no_grad()
    def embed(rows: torch.Tensor) -> torch.Tensor:
        x = layer.project_in(rows.to(codebook.device)).float()
        x = x.reshape(-1, heads, code_dim)  # the layer splits a vector as 'b n (h d)': head-major
        x = x[:, head] if head is not None else x.reshape(-1, code_dim)
        return F.normalize(x, dim=-1) if cosine else x

    details = [f"{layer.dim} -> {code_dim * heads} projection"] if layer.has_projections else []
    if cosine:
        details.append("cosine similarity")
    if heads > 1:
        details.append(f"head {head} of {heads}" if head is not None else f"{heads} heads pooled")
    description = "vector-quantize-pytorch VectorQuantize" + (f" ({', '.join(details)})" if details else "")
    return LookupSpace(embed, codebook, int(layer.dim), description)


def lookup_space(quantizer) -> LookupSpace:
    """:func:`from_vqlib` or :func:`from_vector_quantize`, whichever fits ``quantizer``."""
    if isinstance(quantizer, LookupSpace):
        return quantizer
    if isinstance(quantizer, QuantizerLike):
        return from_vqlib(quantizer)
    if type(quantizer).__module__.startswith("vector_quantize_pytorch"):
        return from_vector_quantize(quantizer)
    raise TypeError(f"cannot diagnose a {type(quantizer).__name__}: pass a codebook tensor [K, d], a vqlib "
                    f"quantizer, a vector_quantize_pytorch.VectorQuantize, or a LookupSpace")
