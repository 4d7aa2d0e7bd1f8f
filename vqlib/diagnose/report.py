"""What :func:`~vqlib.diagnose.diagnose` returns: the metrics with one line on each, the verdict with its
reasons, and what the one-page picture needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["Report", "MEANINGS"]

#: What each metric of a :class:`Report` means, in the order the table lists them.
MEANINGS = {
    "rows": "embedding rows measured (N)",
    "num_codes": "codebook size K",
    "dim": "width d of the space the codes are looked up in",
    "utilization": "fraction of the K codes chosen by at least one row",
    "utilization_of_cap": "codes used / min(K, N): utilization against the most that N rows can reach",
    "dead_codes": "codes no row chose",
    "perplexity": "exp(entropy of the usage): the number of equally used codes with the same usage entropy",
    "perplexity_of_k": "perplexity / K (1: every code used equally often)",
    "perplexity_of_cap": "perplexity / min(K, N): against its cap (a batch of n rows caps it at n)",
    "code_euclidean_distance": "mean distance between two codes (code spread)",
    "embedding_euclidean_distance": "mean distance between two embedding rows (over the sample)",
    "code_cosine_distance": "mean 1 - cos between two codes",
    "embedding_cosine_distance": "mean 1 - cos between two embedding rows",
    "shrinkage_euclidean": "code spread / embedding spread (distance); well below 1: codes in a smaller region",
    "shrinkage_cosine": "code cosine spread / embedding cosine spread",
    "shrinkage_rank": "code effective rank / embedding effective rank",
    "code_effective_rank": "exp(entropy of the codes' normalized singular values): directions the codes span",
    "embedding_effective_rank": "exp(entropy of the embeddings' normalized singular values): directions they span",
    "code_components_99": "principal components holding 99 % of the codes' variance",
    "embedding_components_99": "principal components holding 99 % of the embeddings' variance",
    "reference_components_99": "the same for a reference: a continuous autoencoder of the same width trained the "
                                "same way, without a quantizer (diagnose(..., reference_components=); NaN: none "
                                "given, the fixed rule applies)",
    "embedding_std": "square root of the embeddings' total variance (sum over dimensions)",
    "best_code_scale": "stretching the used codes about their centre by this factor lowers the error most "
                       "(1: codes at their cells' means, as k-means leaves them; >> 1: codes huddled inside the data)",
    "quantization_error": "mean squared distance from a row to its nearest code",
    "relative_quantization_error": "quantization error / the embeddings' variance (1: no better than one code "
                                   "at the mean)",
}


@dataclass
class Report:
    """What :func:`~vqlib.diagnose.diagnose` found: ``values`` (metric -> value, see :data:`MEANINGS`), the
    ``verdict`` (any of "tokens collapse", "embeddings collapse", "codebook shrinkage", or "healthy") with a
    ``reasons`` line per check, ``notes`` on how far to trust it, and what the picture needs: usage ``counts``
    [K], the lookup ``codebook`` [K, d], the embedding ``sample`` [S, d] and the singular values of codes and
    embeddings."""

    values: dict
    verdict: list[str]
    reasons: list[str]
    notes: list[str]
    counts: torch.Tensor
    codebook: torch.Tensor
    sample: torch.Tensor
    code_singular_values: torch.Tensor
    embedding_singular_values: torch.Tensor
    description: str = ""

    def __getitem__(self, metric: str):
        return self.values[metric]

    def table(self):
        """A pandas DataFrame: one row per metric with its value and what it means."""
        import pandas as pd

        return pd.DataFrame({"metric": list(MEANINGS),
                             # object: counts stay integers beside the ratios
                             "value": pd.Series([self.values[name] for name in MEANINGS], dtype=object),
                             "meaning": list(MEANINGS.values())})

    def summary(self) -> str:
        """Plain text: the verdict, the reason for each check, and the key numbers."""
        v = self.values
        lines = [f"vqlib.diagnose: {v['rows']} embedding rows of width {v['dim']}, {v['num_codes']} codes "
                 f"({self.description})",
                 f"verdict: {', '.join(self.verdict)}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append(f"utilization {v['utilization']:.3f} ({v['dead_codes']} dead codes), perplexity "
                     f"{v['perplexity']:.1f} of K = {v['num_codes']}, shrinkage (distance / cosine / rank) "
                     f"{v['shrinkage_euclidean']:.2f} / {v['shrinkage_cosine']:.2f} / {v['shrinkage_rank']:.2f}, "
                     f"effective rank codes {v['code_effective_rank']:.1f} / embeddings "
                     f"{v['embedding_effective_rank']:.1f}, quantization error {v['quantization_error']:.4g} "
                     f"({v['relative_quantization_error']:.0%} of the embeddings' variance)")
        return "\n".join(lines)

    __str__ = summary

    def plot(self, path: str | Path | None = None, color=None):
        """One page: sorted usage with the Lorenz curve, a PCA view of the embeddings (the sample) with the
        codes on top, the singular-value spectra of codes and embeddings, and the shrinkage ratios. ``color``:
        the tokenizer's colour (e.g. its arm's in a study; default a neutral blue). Returns the matplotlib Figure
        and writes it to ``path`` when given (format from the suffix)."""
        from .plot import report_page

        return report_page(self, path, color=color)
