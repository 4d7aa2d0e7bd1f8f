"""vqlib: measure and fix codebook collapse in vector quantization.

Companion library to *Early Quantization Shrinks Codebook* (arXiv 2603.17052). Modules: quantizers (the
quantizer kinds, each with its validated config: vqlib's VQ layer, vector-quantize-pytorch's; quantize re-exports
the first), init (codebook initializers), models, data/images/crops (datasets; images chooses where each is read
from, cifar10 and image_folder read it, imageset caches the decoded arrays, pixels converts them), train (the loop
and the quantization schedule), metrics (the collapse diagnostics), experiments (run specs and cached runs), cache
(the one artifact store), studies (what the notebooks run: arms, base specs, figures' spec lists, claims),
generate/diversity/features (token priors and sample measures), diagnose (the diagnostic tool for anyone's
tokenizer: report, verdict, plot, command line, usage tracker), scales, plotting.
"""

__version__ = "0.1.0"

# Before any submodule imports torch: the instruction set every CPU library computes with (vqlib.arithmetic).
from . import arithmetic as _arithmetic  # noqa: E402

_arithmetic.pin()
