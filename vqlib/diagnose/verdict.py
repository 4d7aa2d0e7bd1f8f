"""The verdict: tokens collapse, embeddings collapse, codebook shrinkage, or healthy - each check with its
threshold and the reason it gives.

The thresholds are argued from where this project's own studies put collapsed and healthy tokenizers (the
early-quantized baselines against deferred quantization on the Gaussian mixture, CIFAR-10 and ImageNet). The
measured values are not copied here, where they would go stale whenever a study is rerun; they are in what
the studies write:

- ``figures/03_results.csv`` (notebook 03, section 2: every arm on the mixture and CIFAR-10, means over seeds
  - utilization, perplexity, shrinkage ratio, embedding effective rank);
- notebook 02, sections 1-2 (usage on CIFAR-10 and ImageNet) and 4 (encoder capacity on CIFAR-10);
- notebook 01, section 4 (encoder capacity on the mixture);
- notebook 05, which diagnoses the studies' tokenizers with these very thresholds and lists, beside each
  verdict, the numbers it rests on.
"""

from __future__ import annotations

import math

__all__ = ["UTILIZATION_MIN", "PERPLEXITY_FRACTION_MIN", "SHRINKAGE_MIN", "CODE_SCALE_MAX",
           "EMBEDDING_COMPONENTS_FRACTION_MAX", "REFERENCE_COMPONENTS_FRACTION_MAX", "verdict"]

#: Tokens collapse when fewer than this fraction of the codes that N rows could reach (min(K, N)) is used.
#: The collapsed baselines use a small fraction of their codes on every dataset, a random-normal codebook
#: trained from step 0 hardly more than one, and deferred quantization nearly all of them (the utilization
#: column of figures/03_results.csv; ImageNet: notebook 02, section 1). One half sits between the two with a
#: wide margin on each side.
UTILIZATION_MIN = 0.5

#: Tokens also collapse when the perplexity is below this fraction of its cap min(K, N): codes are in use but
#: a few of them take most tokens. The baselines' perplexities are a small fraction of K, deferred
#: quantization's most of it (the perplexity column of figures/03_results.csv, K = 256 there; notebook 02,
#: section 2 shows the sorted usage behind them).
PERPLEXITY_FRACTION_MIN = 0.2

#: The codebook has shrunk when the mean distance between codes is below this fraction of the mean distance
#: between embeddings (shrinkage ratio, Euclidean)... The baselines' codebooks span a fraction of their
#: embeddings' spread, deferred quantization's about all of it (the shrinkage ratio column of
#: figures/03_results.csv; over training: notebook 01, section 6 and notebook 02, section 5).
SHRINKAGE_MIN = 0.5

#: ... and, in addition, either the tokens collapsed or the used codes huddle inside the data they serve: the
#: *best code scale* exceeds this. That is the factor by which stretching the used codes about their centre
#: (moved onto the embeddings' mean) would lower the quantization error most, the assignments held fixed:
#: 1 for codes at their cells' means (k-means, and the used codes of an EMA codebook), about 1/r for codes
#: shrunk by a factor r. The extra condition keeps a healthy codebook of diffuse, high-dimensional embeddings
#: from being called shrunk: k-means' codes are the means of their cells, well inside the cloud (isotropic
#: Gaussian rows, d = K = 32: a spread ratio below SHRINKAGE_MIN, tests/test_diagnose.py,
#: test_k_means_on_diffuse_high_dimensional_embeddings_is_narrow_but_healthy), yet all are used and their
#: best scale is 1. 1.5 leaves room for codes that lag their cells' means while a codebook trains.
CODE_SCALE_MAX = 1.5

#: Embeddings collapse when they need at most this fraction of their d dimensions for 99 % of their
#: variance. Notebook 01, section 4: an encoder of width 4 in front of a 16-dim latent can use at most a
#: quarter of the latent's directions, and its baseline loses a large share of the mixture's components;
#: wider encoders span most of the latent. The 99 %-components count every direction with noticeable
#: variance, unlike the effective rank, which is far below d for healthy real encoders too (CIFAR-10, d = 32:
#: notebook 02, section 4, and the embedding eff. rank column of figures/03_results.csv), so they are the
#: safer test.
EMBEDDING_COMPONENTS_FRACTION_MAX = 0.25


#: With a reference (the 99 %-components of a continuous autoencoder of the same width trained the same way,
#: without a quantizer), embeddings collapse when they need at most this fraction of the reference's
#: directions: the fixed d/4 rule cannot tell an encoder that is narrow by design (CIFAR-10's small tokenizers
#: need 4-5 of 32 dimensions with or without quantization) from one that quantization narrowed.
REFERENCE_COMPONENTS_FRACTION_MAX = 0.5


def verdict(v: dict) -> tuple[list[str], list[str], list[str]]:
    """The verdict's labels for the metrics ``v`` of a :class:`~vqlib.diagnose.Report`, a reason for each check
    (passed or not), and notes on how far to trust it."""
    labels, reasons, notes = [], [], []
    cap = min(v["num_codes"], v["rows"])
    used = round(v["utilization_of_cap"] * cap)

    few_codes = v["utilization_of_cap"] < UTILIZATION_MIN
    concentrated = v["perplexity_of_cap"] < PERPLEXITY_FRACTION_MIN
    reach = f" of the {cap} that {v['rows']} rows can reach" if cap < v["num_codes"] else ""
    usage_text = (f"{used} of {v['num_codes']} codes used ({v['utilization_of_cap']:.0%}{reach}; collapse below "
                  f"{UTILIZATION_MIN:.0%}), perplexity {v['perplexity']:.1f} = {v['perplexity_of_cap']:.0%} of its "
                  f"cap min(K, N) = {cap} (collapse below {PERPLEXITY_FRACTION_MIN:.0%})")
    if few_codes or concentrated:
        labels.append("tokens collapse")
        reasons.append(f"tokens collapse: {usage_text}")
    else:
        reasons.append(f"usage is fine: {usage_text}")

    components, dim = v["embedding_components_99"], v["dim"]
    reference = v.get("reference_components_99", math.nan)
    if math.isnan(reference):
        limit = EMBEDDING_COMPONENTS_FRACTION_MAX * dim
        rule = f"collapse at <= {EMBEDDING_COMPONENTS_FRACTION_MAX:.0%} of d = {limit:g}"
    else:
        limit = REFERENCE_COMPONENTS_FRACTION_MAX * reference
        rule = (f"a continuous autoencoder of the same width needs {reference:g}; collapse at <= "
                f"{REFERENCE_COMPONENTS_FRACTION_MAX:.0%} of that = {limit:g}")
    rank_text = (f"the embeddings need {components} of their {dim} dimensions for 99 % of their variance "
                 f"(effective rank {v['embedding_effective_rank']:.1f}; {rule})")
    if components <= limit:
        labels.append("embeddings collapse")
        reasons.append(f"embeddings collapse: {rank_text}")
    else:
        reasons.append(f"embeddings span their space: {rank_text}")

    ratio, scale = v["shrinkage_euclidean"], v["best_code_scale"]
    spread_text = (f"code spread / embedding spread = {ratio:.2f} (shrunk below {SHRINKAGE_MIN}), best code scale "
                   f"{scale:.2f} (inside the data above {CODE_SCALE_MAX})")
    if ratio < SHRINKAGE_MIN and (scale > CODE_SCALE_MAX or few_codes):
        labels.append("codebook shrinkage")
        why = ("the used codes huddle inside the data they serve" if scale > CODE_SCALE_MAX
               else "most codes are unused, left behind in a narrow region")
        reasons.append(f"codebook shrinkage: {spread_text}; {why}")
    elif ratio < SHRINKAGE_MIN:
        reasons.append(f"codebook narrower than the data but not shrunk: {spread_text}; the codes are used and sit "
                       f"at their cells' means, as k-means leaves them for diffuse high-dimensional embeddings")
    else:
        reasons.append(f"codebook as wide as the data: {spread_text}")
    if ratio > 2:
        notes.append(f"the codes spread {ratio:.1f} times as wide as the embeddings: many lie outside the data "
                     f"(e.g. an initialization at the wrong scale)")

    if v["rows"] < 5 * v["num_codes"]:
        notes.append(f"only {v['rows'] / v['num_codes']:.1f} rows per code: a rarely chosen code can go unseen, so "
                     f"usage is underestimated; diagnose more rows (at least 5 K = {5 * v['num_codes']})")
    return labels or ["healthy"], reasons, notes
