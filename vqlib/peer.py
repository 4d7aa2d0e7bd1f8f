"""vector-quantize-pytorch's layer behind vqlib's interface: a re-export of :mod:`vqlib.quantizers.peer`
(the kind "vector-quantize-pytorch"). ``from vqlib.peer import PeerQuantizer`` keeps working."""

from .quantizers.peer import PeerConfig, PeerQuantizer

__all__ = ["PeerQuantizer", "PeerConfig"]
