"""Diagnose anyone's vector quantizer: is its codebook collapsed, and why?

Three lines on your own model::

    from vqlib.diagnose import diagnose
    report = diagnose(embeddings, codebook)      # or diagnose(encode, codebook, loader): streamed
    print(report.summary()); report.plot("report.png")

``embeddings`` are encoder outputs in the codebook's space ([N, d], or any shape with the channels last);
``codebook`` is the [K, d] codebook, or the quantizer itself: vqlib's :class:`~vqlib.quantize.VectorQuantizer`
(and :class:`~vqlib.peer.PeerQuantizer`), or vector-quantize-pytorch's ``VectorQuantize``, in which case the
embeddings are the layer's *inputs* and the layer's own projection, cosine normalization and heads are applied
(:func:`from_vqlib`, :func:`from_vector_quantize`). Measure over a whole evaluation set, not a batch: usage and
perplexity over one batch of n rows are capped by n.

What it measures (each formula is :mod:`vqlib.metrics`'s, see :data:`MEANINGS` for one line on each):
usage counts over all rows (utilization, perplexity against K and against the cap min(K, N), dead codes),
code and embedding spread (mean pairwise Euclidean and cosine distance), the shrinkage ratios (code spread /
embedding spread), effective rank and 99 %-components of the codes and of the embeddings, the quantization
error, and the *best code scale* (see :data:`CODE_SCALE_MAX`). The verdict's thresholds and the argument for
each are in :mod:`vqlib.diagnose.verdict`.

Streaming (``diagnose(encode, codebook, batches)``) keeps memory bounded whatever the number of rows: usage
counts [K], per-code sums [K, d] and the error are accumulated; the embeddings' side is a
:class:`vqlib.metrics.StreamingStats` - effective rank, 99 %-components and the spread from an accumulated
float64 d x d scatter matrix, the cosine spread from the sum of the rows' unit vectors (exact), the Euclidean
spread and the picture from a fixed-size sample of ``sample_size`` (default 2,048) rows. The sample is "the
rows with the smallest keys", a row's key being a hash of its position in the stream and the seed, so it is
the same whatever the batch sizes: the in-memory call (which runs the same code over chunks) and any streaming
of the same rows in the same order agree - counts exactly, error and covariance metrics to rounding (~1e-12),
the Euclidean spread exactly.

:class:`UsageTracker` keeps whole-epoch usage from inside a training loop; ``make bench-tracker``
(``benchmarks/bench_tracker.py``) measures what an update costs against a training step.

Not supported (a clear error says so): vector-quantize-pytorch's residual, grouped and other multi-codebook
quantizers (``ResidualVQ``, ``GroupedResidualVQ``, ...; diagnose each of their ``layers`` on the residual it
receives), its codebook-free quantizers (FSQ, LFQ: there is no codebook to shrink), ``affine_param=True`` and
``vq_bridge`` (the codes are transformed before the lookup, so the stored codebook is not the one used), and
several heads with separate codebooks unless one head is chosen (``from_vector_quantize(layer, head=i)``).
Streaming diagnosis is per process: under torch.distributed each rank diagnoses what it sees (the
:class:`UsageTracker` does reduce over ranks).

The command line: ``python -m vqlib.diagnose --embeddings z.npy --codebook c.npy [--out report.png]``
(``.npy`` arrays or ``.pt`` files holding one tensor) prints the summary and writes the figure.

Modules: :mod:`~vqlib.diagnose.core` (:func:`diagnose`), :mod:`~vqlib.diagnose.report` (:class:`Report`,
:data:`MEANINGS`), :mod:`~vqlib.diagnose.verdict` (the thresholds and the verdict), :mod:`~vqlib.diagnose.adapters`
(the quantizers' lookup spaces), :mod:`~vqlib.diagnose.plot` (the one-page figure),
:mod:`~vqlib.diagnose.tracker` (:class:`UsageTracker`), :mod:`~vqlib.diagnose.cli` (the command line).
"""

from .adapters import LookupSpace, from_vector_quantize, from_vqlib, lookup_space
from .cli import main
from .core import SAMPLE_SIZE, diagnose
from .report import MEANINGS, Report
from .tracker import UsageTracker
from .verdict import (
    CODE_SCALE_MAX,
    EMBEDDING_COMPONENTS_FRACTION_MAX,
    PERPLEXITY_FRACTION_MIN,
    REFERENCE_COMPONENTS_FRACTION_MAX,
    SHRINKAGE_MIN,
    UTILIZATION_MIN,
)

__all__ = ["diagnose", "Report", "LookupSpace", "from_vqlib", "from_vector_quantize", "lookup_space",
           "UsageTracker", "MEANINGS", "UTILIZATION_MIN", "PERPLEXITY_FRACTION_MIN", "SHRINKAGE_MIN",
           "CODE_SCALE_MAX", "EMBEDDING_COMPONENTS_FRACTION_MAX", "REFERENCE_COMPONENTS_FRACTION_MAX", "SAMPLE_SIZE",
           "main"]
