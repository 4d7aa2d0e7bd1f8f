"""Run specs and the on-disk run cache.

A :class:`RunSpec` (frozen dataclasses all the way down) fully describes one training run. ``run(spec)``
trains it, or returns the cached result when the same spec was run before with the same library version
and the same data source. Cache entries are written to a temporary file and renamed into place, so an
interrupted run leaves no partial entry; ``run(spec, force=True)`` (or VQLIB_FORCE=1) recomputes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from . import __version__, paths
from .data import ImageSpec, MixtureSpec, Prepared, load
from .models import ConvVQVAE, MLPAutoencoder, VQAutoencoder
from .train import TrainSpec, train

__all__ = ["ModelSpec", "RunSpec", "RunResult", "build_model", "run", "run_many", "run_key", "with_arm", "final_table",
           "initial_model", "prepare",
           "MODEL_KINDS", "ARMS"]

MODEL_KINDS = ("mlp", "conv")
#: vqlib's own layer, or vector-quantize-pytorch's VectorQuantize as the outside reference
QUANTIZERS = ("vqlib", "vector-quantize-pytorch")


@dataclass(frozen=True)
class ModelSpec:
    """The autoencoder and its quantizer. ``kind`` is "mlp" (vector data) or "conv" (images)."""

    kind: str = "mlp"
    num_codes: int = 16
    latent_dim: int = 8
    # MLP capacity: encoder hidden layers (0 = linear encoder) and their width
    depth: int = 2
    width: int = 64
    decoder_depth: int = 2
    decoder_width: int = 64
    # conv capacity
    channels: int = 64
    num_res_blocks: int = 2
    num_downsamples: int = 2
    # quantizer switches
    beta: float = 0.25
    ema: bool = True
    decay: float = 0.99
    dead_code_threshold: float = 0.0
    cosine: bool = False
    code_dim: int | None = None
    quantizer: str = "vqlib"

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}")
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"unknown quantizer {self.quantizer!r}; choose one of {QUANTIZERS}")
        if self.quantizer != "vqlib" and (self.cosine or self.code_dim is not None or not self.ema):
            raise ValueError("the vector-quantize-pytorch quantizer is run with EMA updates and without cosine "
                             "or low-dimensional codes here; use quantizer='vqlib' for those switches")
        if int(self.num_codes) != self.num_codes or self.num_codes < 1:
            raise ValueError(f"num_codes (K) must be an integer >= 1, got {self.num_codes!r}")


@dataclass(frozen=True)
class RunSpec:
    data: MixtureSpec | ImageSpec = field(default_factory=MixtureSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    seed: int = 0

    def to_dict(self) -> dict:
        """The spec as plain data, leaving out every field that has its default value, so that adding a
        field with a default to a spec class keeps the cache keys of existing runs."""
        d = {name: _non_default(getattr(self, name)) for name in ("data", "model", "train")}
        d["seed"] = self.seed
        d["data_kind"] = type(self.data).__name__
        return d


def _non_default(spec) -> dict:
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
            if getattr(spec, f.name) != (f.default if f.default is not dataclasses.MISSING else f.default_factory())}


def build_model(model: ModelSpec, data: MixtureSpec | ImageSpec) -> VQAutoencoder:
    quantizer = dict(beta=model.beta, ema=model.ema, decay=model.decay,
                     dead_code_threshold=model.dead_code_threshold, cosine=model.cosine, code_dim=model.code_dim)
    if model.quantizer == "vector-quantize-pytorch":
        from .peer import PeerQuantizer

        quantizer = {"quantizer": PeerQuantizer(model.num_codes, model.latent_dim, beta=model.beta, decay=model.decay,
                                                dead_code_threshold=model.dead_code_threshold)}
    if model.kind == "mlp":
        if not isinstance(data, MixtureSpec):
            raise ValueError("the mlp model takes vector data (MixtureSpec); use kind='conv' for images")
        return MLPAutoencoder(data.dim, model.latent_dim, model.num_codes, depth=model.depth, width=model.width,
                              decoder_depth=model.decoder_depth, decoder_width=model.decoder_width, **quantizer)
    if not isinstance(data, ImageSpec):
        raise ValueError("the conv model takes images (ImageSpec); use kind='mlp' for vector data")
    return ConvVQVAE(model.num_codes, channels=model.channels, latent_dim=model.latent_dim,
                     num_downsamples=model.num_downsamples, num_res_blocks=model.num_res_blocks, **quantizer)


def run_key(spec: RunSpec, source: str) -> str:
    """Hash of the spec, the data source actually used and the library version."""
    payload = json.dumps({"spec": spec.to_dict(), "source": source, "version": __version__}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class RunResult:
    spec: RunSpec
    history: pd.DataFrame
    state_dict: dict
    source: str
    wall_time: float  # seconds the training took when it ran (not the cache lookup)
    cached: bool = False

    @property
    def final(self) -> dict:
        """The last evaluation: the run's final metrics."""
        return self.history.iloc[-1].to_dict()

    def model(self) -> VQAutoencoder:
        """The trained model, rebuilt from the spec and the stored weights, in evaluation mode."""
        model = build_model(self.spec.model, self.spec.data)
        model.load_state_dict(self.state_dict)
        model.quantizer.active = bool(self.history["quantized"].iloc[-1])
        return model.eval()


def device() -> torch.device:
    """Where runs train: VQLIB_DEVICE if set (e.g. "cpu", "cuda:1"), else the first GPU if any, else the CPU.

    Results are cached by spec, not by device: a GPU run's numbers differ from a CPU run's in the last digits.
    """
    if os.environ.get("VQLIB_DEVICE"):
        return torch.device(os.environ["VQLIB_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def initial_model(spec: RunSpec) -> VQAutoencoder:
    """The run's model before training (its weights are fixed by the seed): the 'untrained encoder'."""
    torch.manual_seed(spec.seed)
    return build_model(spec.model, spec.data)


_DATA_CACHE: dict = {}


def prepare(data_spec: MixtureSpec | ImageSpec) -> Prepared:
    """Load a data spec once per process (runs sharing data share the tensors)."""
    if data_spec not in _DATA_CACHE:
        _DATA_CACHE[data_spec] = load(data_spec)
    return _DATA_CACHE[data_spec]


def run(spec: RunSpec, force: bool | None = None, progress: bool | None = None, cache: bool = True) -> RunResult:
    """Train the run described by ``spec``, or load it from the cache. Deterministic for a seed."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"run() takes a RunSpec, got {type(spec).__name__}")
    if force is None:
        force = os.environ.get("VQLIB_FORCE", "0") == "1"
    data = prepare(spec.data)
    path = paths.cache_dir() / f"{run_key(spec, data.source)}.pt"
    if cache and not force and path.exists():
        stored = torch.load(path, weights_only=False, map_location="cpu")
        return RunResult(spec, pd.DataFrame(stored["history"]), stored["state_dict"], stored["source"],
                         stored["wall_time"], cached=True)

    model = initial_model(spec).to(device())
    start = time.perf_counter()
    history = train(model, data, spec.train, seed=spec.seed, progress=progress, description=_describe(spec))
    wall_time = time.perf_counter() - start
    result = RunResult(spec, history, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                       data.source, wall_time)
    if cache:
        _atomic_save({"spec": spec.to_dict(), "history": history.to_dict("list"), "state_dict": result.state_dict,
                      "source": data.source, "wall_time": wall_time, "version": __version__}, path)
    return result


#: The initialization arms of the studies (DIGEST.md, protocol): the paper's baseline, two random
#: codebooks trained by gradients, and deferred quantization (k-means on the trained encoder, EMA).
ARMS = ("early k-means (baseline)", "early normal", "early uniform", "deferred")


def with_arm(spec: RunSpec, arm: str, defer_fraction: float = 1 / 3, init_scale: float | None = None) -> RunSpec:
    """``spec`` turned into one of :data:`ARMS`, at the same total step budget.

    early k-means (baseline): quantize from step 0, k-means on the untrained encoder's outputs, EMA updates;
    early normal / early uniform: quantize from step 0, random codebook trained by the codebook loss;
    deferred: continuous for ``defer_fraction`` of the steps, then k-means on the trained encoder, EMA.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose one of {ARMS}")
    if not 0 < defer_fraction < 1:
        raise ValueError(f"defer_fraction must lie in (0, 1), got {defer_fraction!r}")
    train_spec, model = spec.train, spec.model
    if arm == "early k-means (baseline)":
        train_spec = dataclasses.replace(train_spec, quantize_from=0, codebook_init="kmeans")
        model = dataclasses.replace(model, ema=True)
    elif arm == "deferred":
        t_c = max(1, round(defer_fraction * train_spec.steps))
        train_spec = dataclasses.replace(train_spec, quantize_from=t_c, codebook_init="kmeans")
        model = dataclasses.replace(model, ema=True)
    else:
        init = "normal" if arm == "early normal" else "uniform"
        train_spec = dataclasses.replace(train_spec, quantize_from=0, codebook_init=init)
        if init_scale is not None:
            train_spec = dataclasses.replace(train_spec, init_scale=init_scale)
        model = dataclasses.replace(model, ema=False)
    return dataclasses.replace(spec, train=train_spec, model=model)


def run_many(specs, desc: str = "runs", progress: bool | None = None) -> list[RunResult]:
    """``run`` over a list of specs with one outer progress bar (cached runs take milliseconds)."""
    specs = list(specs)
    results = []
    for spec in tqdm(specs, desc=desc, disable=not paths.progress_enabled(progress), leave=False):
        results.append(run(spec, progress=False))
    return results


def final_table(results, **labels) -> pd.DataFrame:
    """One row per result: its final metrics plus the columns in ``labels`` (each a list, one per result)."""
    rows = []
    for i, result in enumerate(results):
        row = {name: values[i] for name, values in labels.items()}
        row["seed"] = result.spec.seed
        row.update(result.final)
        row["train_seconds"] = result.wall_time
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(spec: RunSpec) -> str:
    t = spec.train
    arm = "early" if t.quantize_from == 0 else f"deferred@{t.quantize_from}"
    return f"{arm} {t.codebook_init} K={spec.model.num_codes} seed={spec.seed}"


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
