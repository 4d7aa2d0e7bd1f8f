"""The quantizer kinds, each one module with its own validated config, behind one contract.

- :mod:`~vqlib.quantizers.base`: the nearest-code lookup (:func:`nearest_code`), the forward contract
  (:class:`VQOutput`: quantized, indices, loss, commitment_loss, codebook_loss), the interface the models and
  the trainer use (:class:`Quantizer`, :class:`QuantizerLike`), the base of the configs
  (:class:`QuantizerConfig`) and the registry (:func:`register`, :func:`get`, :func:`build`, :data:`REGISTRY`);
- :mod:`~vqlib.quantizers.vq`: ``"vqlib"``, vqlib's own layer (:class:`VectorQuantizer`, :class:`VQConfig`);
- :mod:`~vqlib.quantizers.peer`: ``"vector-quantize-pytorch"``, the outside reference (:class:`PeerQuantizer`,
  :class:`PeerConfig`);
- :mod:`~vqlib.quantizers.simvq`: ``"simvq"``, a frozen random basis through a learned linear map (:class:`SimVQ`,
  :class:`SimVQConfig`);
- :mod:`~vqlib.quantizers.fsq`: ``"fsq"``, finite scalar quantization's implicit grid, through the peer package
  (:class:`FSQuantizer`, :class:`FSQConfig`).

A new kind (SimVQ, an online clustered codebook, FSQ, ...) is one module here: a frozen config dataclass
derived from :class:`QuantizerConfig` that checks its fields, and a :class:`Quantizer` subclass decorated
with ``@register("name")`` that implements ``quantize``, ``embed``, ``codes`` and ``initialize`` (and, where
the kind has them, ``update``/``revive``, ``own_init`` with ``initialize_from_embeddings``). Import it below so
it registers; a run then names it with ``ModelSpec(quantizer="name", quantizer_options=ItsConfig(...))``
(:meth:`vqlib.experiments.ModelSpec.quantizer_config`) and an arm in :mod:`vqlib.studies.arms` sets those two
fields. The training loop needs no change: it only calls the methods above.
"""

from .base import (
    OWN_INITS,
    REGISTRY,
    Quantizer,
    QuantizerConfig,
    QuantizerLike,
    VQOutput,
    build,
    check_size,
    get,
    nearest_code,
    register,
    rotate_to,
    unregister,
)
from .fsq import FSQConfig, FSQuantizer
from .peer import PeerConfig, PeerQuantizer
from .simvq import SimVQ, SimVQConfig
from .vq import VectorQuantizer, VQConfig

__all__ = ["nearest_code", "rotate_to", "VQOutput", "QuantizerLike", "QuantizerConfig", "Quantizer", "OWN_INITS",
           "register", "unregister", "get", "build", "REGISTRY", "check_size", "VectorQuantizer", "VQConfig",
           "PeerQuantizer", "PeerConfig", "SimVQ", "SimVQConfig", "FSQuantizer", "FSQConfig"]
