"""What the figures show of a trained model, computed once here for every notebook: its encoder outputs,
reconstructions, the codebook in the embeddings' principal plane, and sorted code usage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import metrics
from ..experiments import RunResult, RunSpec, initial_model
from ..quantize import nearest_code
from ..train import encode_all

__all__ = ["encoder_outputs", "reconstructions", "CodebookView", "codebook_view", "sorted_usage", "codes_per_mode",
           "mode_entropy", "centred_code_spread", "tsne_view"]


def encoder_outputs(run: RunResult | RunSpec, inputs: torch.Tensor) -> torch.Tensor:
    """Encoder outputs [M, d] of ``inputs``: the trained encoder of a finished run, or the untrained encoder
    of a spec (its weights at step 0)."""
    model = run.model() if isinstance(run, RunResult) else initial_model(run)
    return encode_all(model, inputs)[0]


def reconstructions(run: RunResult, inputs: torch.Tensor) -> torch.Tensor:
    """The trained model's reconstructions of ``inputs`` (evaluation mode)."""
    return encode_all(run.model(), inputs)[1]


@dataclass
class CodebookView:
    """Embeddings and codes in the lookup space, projected on the embeddings' two principal directions
    (numpy arrays: matplotlib draws them many times faster than tensors)."""

    embeddings: np.ndarray  # [M, 2] (a random subset when ``max_points`` was given)
    codes: np.ndarray  # [K, 2]
    used: np.ndarray  # [K] bool: selected by at least one input
    picked: np.ndarray  # [M] indices of the shown embeddings among all rows

    @property
    def num_used(self) -> int:
        return int(self.used.sum())


def codebook_view(run: RunResult, inputs: torch.Tensor, max_points: int | None = None, seed: int = 0) -> CodebookView:
    """The codebook over its embeddings: PCA fitted on every embedding of ``inputs`` in the lookup space;
    ``max_points`` keeps a seeded random subset of the embeddings for drawing (all codes are kept)."""
    model = run.model()
    rows, _, _, indices = encode_all(model, inputs)
    emb = model.quantizer.embed(rows).detach()
    codes = model.quantizer.codes()
    basis = metrics.pca_basis(emb)
    picked = torch.arange(len(emb))
    if max_points is not None and len(emb) > max_points:
        picked = torch.randperm(len(emb), generator=torch.Generator().manual_seed(seed))[:max_points]
    used = torch.bincount(indices, minlength=codes.shape[0]) > 0
    return CodebookView(metrics.project(emb[picked], basis).numpy(), metrics.project(codes, basis).numpy(),
                        used.numpy(), picked.numpy())


def sorted_usage(run: RunResult, inputs: torch.Tensor) -> np.ndarray:
    """Usage p_k of every code over ``inputs``, sorted from most to least used (dead codes are zeros)."""
    model = run.model()
    indices = encode_all(model, inputs)[3]
    return np.sort(metrics.code_usage(indices, model.quantizer.num_codes).numpy())[::-1]


def codes_per_mode(run: RunResult, inputs: torch.Tensor, labels: torch.Tensor, num_modes: int) -> np.ndarray:
    """How many of the K codes sit in each mode: a code belongs to the mode (mixture component) of the input
    whose embedding lies nearest to it, in the lookup space. Dead codes count too: the codebook's size is
    spent on them wherever they sit."""
    model = run.model()
    emb = model.quantizer.embed(encode_all(model, inputs)[0]).detach()
    nearest, _ = nearest_code(model.quantizer.codes(), emb)
    return np.bincount(torch.as_tensor(labels)[nearest].numpy(), minlength=num_modes)


def mode_entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of the codes' distribution over modes, p_m = codes in mode m / K: the diversity a
    perfect generator on these tokens can reach in the paper's toy theory (section 4.2); log C when the codes
    cover the C modes evenly, log M when they sit in only M of them."""
    p = np.asarray(counts, dtype=float) / np.sum(counts)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def centred_code_spread(run: RunResult, inputs: torch.Tensor) -> float:
    """Mean pairwise cosine distance of the codes measured from the embeddings' mean instead of the origin.

    The paper's code spread (:func:`vqlib.metrics.mean_pairwise_cosine_distance` of the raw codebook) depends on
    where the origin lies: codes far from it in one direction look similar however they are arranged around
    the data. Centring on the mean of the embeddings they serve (in the lookup space) removes that."""
    model = run.model()
    emb = model.quantizer.embed(encode_all(model, inputs)[0]).detach()
    return metrics.mean_pairwise_cosine_distance(model.quantizer.codes() - emb.mean(0))


def tsne_view(run: RunResult, inputs: torch.Tensor, max_points: int = 2000, perplexity: float = 30.0,
              seed: int = 0) -> CodebookView:
    """Embeddings and codes in one 2-D t-SNE map (scikit-learn's TSNE, the paper's view), in the lookup space.

    One map of a seeded random subset of ``max_points`` embeddings together with all K codes, so codes sit
    among the embeddings they serve. t-SNE keeps neighbourhoods, not distances: a clump of codes far from the
    data in the PCA view can land anywhere. Cached (kind "view") by the run, the inputs' checksum and these
    settings: it takes seconds to minutes."""
    from .. import cache as store

    payload = {"run": run.key, "inputs": store.digest(inputs), "method": "tsne", "max_points": max_points,
               "perplexity": perplexity, "seed": seed}

    def compute() -> dict:
        from sklearn.manifold import TSNE

        model = run.model()
        rows, _, _, indices = encode_all(model, inputs)
        emb = model.quantizer.embed(rows).detach()
        codes = model.quantizer.codes()
        picked = torch.arange(len(emb))
        if len(emb) > max_points:
            picked = torch.randperm(len(emb), generator=torch.Generator().manual_seed(seed))[:max_points]
        points = torch.cat([emb[picked], codes]).double().numpy()
        xy = TSNE(n_components=2, perplexity=min(perplexity, (len(points) - 1) / 3), init="pca",
                  random_state=seed).fit_transform(points)
        used = torch.bincount(indices, minlength=codes.shape[0]) > 0
        return {"embeddings": xy[:len(picked)], "codes": xy[len(picked):], "used": used.numpy(),
                "picked": picked.numpy()}

    value, _ = store.cached("view", payload, compute)
    return CodebookView(value["embeddings"], value["codes"], value["used"], value["picked"])
