"""vqlib's vector-quantization layer, as first published: a re-export from :mod:`vqlib.quantizers`.

The layer now lives in :mod:`vqlib.quantizers.vq` (the kind "vqlib", with its config :class:`VQConfig`), the
shared contract in :mod:`vqlib.quantizers.base`. ``from vqlib.quantize import VectorQuantizer, VQOutput,
QuantizerLike, nearest_code`` keeps working.
"""

from .quantizers.base import QuantizerLike, VQOutput, nearest_code
from .quantizers.vq import VectorQuantizer, VQConfig

__all__ = ["VectorQuantizer", "VQConfig", "VQOutput", "QuantizerLike", "nearest_code"]
