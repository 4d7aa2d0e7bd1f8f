"""vqlib: measure and fix codebook collapse in vector quantization.

Companion library to *Early Quantization Shrinks Codebook* (arXiv 2603.17052). Modules:
quantize (the VQ layer), init (codebook initializers), models, data/images (datasets), train (the
loop and the quantization schedule), metrics (the collapse diagnostics), experiments (cached runs),
scales, plotting.
"""

__version__ = "0.1.0"
