"""Run specs and cached runs.

A :class:`RunSpec` (frozen dataclasses all the way down) fully describes one training run. ``run(spec)``
trains it, or returns the stored result from :mod:`vqlib.cache` when the same spec - every field, defaults
included - was run before on data with the same content checksum under the same cache schema. Entries are
written atomically, so an interrupted run leaves no partial entry; ``run(spec, force=True)`` (or
VQLIB_FORCE=1) recomputes. What a study runs (its arms, base specs and figures) lives in :mod:`vqlib.studies`.

The quantizer of a run: ``ModelSpec.quantizer`` names a registered kind of :mod:`vqlib.quantizers`, and
:meth:`ModelSpec.quantizer_config` gives its validated config. ModelSpec keeps its flat quantizer fields
(``beta``, ``ema``, ``decay``, ``dead_code_threshold``, ``cosine``, ``code_dim``, ``peer_kmeans_init``) as the
spelling of the two original kinds' options, because every cached run's key hashes exactly that layout and the
studies write ``dataclasses.replace(model, ema=False, ...)`` throughout; :data:`FLAT_QUANTIZER_FIELDS` says
which flat field sets which config field of those kinds. Every other kind reads none of them (they must keep
their defaults, or the spec is rejected naming the field) and takes its options from the one field added for
them, ``quantizer_options`` (its config; left out of the key while None, so no old key moves). A nested config
with a payload hook that rewrites the legacy layout would have served the keys too, but not the studies'
``replace`` calls, and would have put two spellings of the same run in play.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import shlex
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from . import accel, arithmetic, executors, paths, quantizers
from . import cache as store
from .data import ImageSpec, MixtureSpec, prepare
from .init import INITIALIZERS
from .models import ConvVQVAE, MLPAutoencoder, VQAutoencoder, scale_encoder_output
from .quantizers import QuantizerConfig
from .train import TrainSpec, train

__all__ = ["ModelSpec", "RunSpec", "RunResult", "build_model", "initial_model", "run", "run_many", "run_payload",
           "run_key", "device", "checkpoint_path", "process_count", "train_distributed", "MODEL_KINDS", "QUANTIZERS",
           "FLAT_QUANTIZER_FIELDS"]

MODEL_KINDS = ("mlp", "conv")
#: every registered quantizer kind by name (live: vqlib's own layer "vqlib", vector-quantize-pytorch's
#: VectorQuantize "vector-quantize-pytorch" as the outside reference, and any kind registered later)
QUANTIZERS = quantizers.REGISTRY
#: ModelSpec's flat quantizer fields -> the config field each sets, for the two kinds that own them (the layout
#: the cached runs' keys were written with). Any other kind reads none of them.
FLAT_QUANTIZER_FIELDS = {
    "vqlib": {"beta": "beta", "ema": "ema", "decay": "decay", "dead_code_threshold": "dead_code_threshold",
              "cosine": "cosine", "code_dim": "code_dim"},
    "vector-quantize-pytorch": {"beta": "beta", "decay": "decay", "dead_code_threshold": "dead_code_threshold",
                                "peer_kmeans_init": "kmeans_init"},
}
_FLAT_NAMES = ("beta", "ema", "decay", "dead_code_threshold", "cosine", "code_dim", "peer_kmeans_init")


@dataclass(frozen=True)
class ModelSpec:
    """The autoencoder and its quantizer. ``kind`` is "mlp" (vector data) or "conv" (images); ``quantizer`` a
    registered kind of :mod:`vqlib.quantizers`, its options in the flat fields (the two original kinds) or in
    ``quantizer_options`` (:meth:`quantizer_config`). Checked when made: a switch the kind does not have, a bad
    value or a config of another kind is an error naming the field."""

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
    # quantizer switches of the "vqlib" and "vector-quantize-pytorch" kinds (FLAT_QUANTIZER_FIELDS)
    beta: float = 0.25
    ema: bool = True
    decay: float = 0.99
    dead_code_threshold: float = 0.0
    cosine: bool = False
    code_dim: int | None = None
    quantizer: str = "vqlib"
    # vector-quantize-pytorch only: its own k-means on the first batch (True) or its default random codebook
    peer_kmeans_init: bool = field(default=True, metadata={"absent": True})
    # the options of any other kind: its config dataclass (None: the config's defaults)
    quantizer_options: QuantizerConfig | None = field(default=None, metadata={"absent": None})
    # the untrained encoder's output scale: its last layer's initial weights and bias times this (the phase
    # diagram's axis of the data's scale against the untrained encoder's)
    encoder_gain: float = field(default=1.0, metadata={"absent": 1.0})

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}")
        if not (isinstance(self.encoder_gain, (int, float)) and math.isfinite(self.encoder_gain)
                and self.encoder_gain > 0):
            raise ValueError(f"encoder_gain must be a finite number > 0, got {self.encoder_gain!r}")
        if int(self.num_codes) != self.num_codes or self.num_codes < 1:
            raise ValueError(f"num_codes (K) must be an integer >= 1, got {self.num_codes!r}")
        self.quantizer_config().check(self.num_codes, self.latent_dim)

    def quantizer_config(self) -> QuantizerConfig:
        """The quantizer kind's validated config: for "vqlib" and "vector-quantize-pytorch", the flat fields
        mapped by :data:`FLAT_QUANTIZER_FIELDS` (``quantizer_options`` may hold that kind's config for fields
        added to it later, the mapped ones left at their defaults); for any other kind, ``quantizer_options``."""
        kind = quantizers.get(self.quantizer)  # unknown names: an error listing the registered ones
        config_class = kind.config_class
        options = self.quantizer_options
        if options is not None and type(options) is not config_class:
            raise ValueError(f"ModelSpec.quantizer_options is a {type(options).__name__}, but quantizer "
                             f"{self.quantizer!r} takes a {config_class.__name__} (or None)")
        mapped = FLAT_QUANTIZER_FIELDS.get(self.quantizer, {})
        for name in _FLAT_NAMES:
            default = _MODEL_DEFAULTS[name]
            if name not in mapped and getattr(self, name) != default:
                having = [k for k, fields in FLAT_QUANTIZER_FIELDS.items() if name in fields]
                raise ValueError(f"ModelSpec.{name}={getattr(self, name)!r}: quantizer {self.quantizer!r} has no "
                                 f"switch {name!r}; leave it at {default!r} (the quantizers that have it: "
                                 f"{having})")
        base = options if options is not None else config_class()
        defaults = config_class()
        for flat, own in mapped.items():
            if getattr(base, own) != getattr(defaults, own):
                raise ValueError(f"ModelSpec.quantizer_options sets {own}={getattr(base, own)!r}: for quantizer "
                                 f"{self.quantizer!r} set it as ModelSpec.{flat} (the spelling its cache keys use)")
        try:
            return dataclasses.replace(base, **{own: getattr(self, flat) for flat, own in mapped.items()})
        except ValueError as error:
            raise ValueError(f"ModelSpec(quantizer={self.quantizer!r}): {error}") from None


_MODEL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelSpec)}


@dataclass(frozen=True)
class RunSpec:
    """One training run: data, model, training schedule and the seed of the weights and batches."""

    data: MixtureSpec | ImageSpec = field(default_factory=MixtureSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.data, (MixtureSpec, ImageSpec)):
            raise TypeError(f"RunSpec.data must be a MixtureSpec or an ImageSpec, got {type(self.data).__name__}")
        if not isinstance(self.model, ModelSpec) or not isinstance(self.train, TrainSpec):
            raise TypeError("RunSpec.model must be a ModelSpec and RunSpec.train a TrainSpec")
        kind = quantizers.get(self.model.quantizer)
        init = self.train.codebook_init
        if not kind.accepts_init(init):
            allowed = [name for name in INITIALIZERS if kind.accepts_init(name)]
            why = ""
            if init == "own":
                own = [name for name, k in quantizers.REGISTRY.items() if k.accepts_init("own")]
                why = (f" ('own' keeps a quantizer's own initialization, and {self.model.quantizer!r} has none; the "
                       f"quantizers that initialize themselves: {own})")
            raise ValueError(f"TrainSpec.codebook_init={init!r} does not fit quantizer {self.model.quantizer!r}"
                             f"{why}; choose one of {allowed}")

    def to_dict(self) -> dict:
        """The spec as plain data: every field, defaults included (what the cache key hashes)."""
        return store.spec_payload(self)


def build_model(model: ModelSpec, data: MixtureSpec | ImageSpec) -> VQAutoencoder:
    """The autoencoder of ``model`` for ``data``, its quantizer the registered kind built from its config.

    The quantizer is built in its place inside the model, after the encoder and decoder, so their weights are
    drawn first; a kind with ``built_before_model`` (vector-quantize-pytorch's, as its runs were cached) is
    built before the model. Which random numbers each weight gets depends on that order."""
    kind, config = quantizers.get(model.quantizer), model.quantizer_config()

    def make():
        return kind.from_config(config, model.num_codes, model.latent_dim)

    quantizer = {"quantizer": make() if kind.built_before_model else make}
    if model.kind == "mlp":
        if not isinstance(data, MixtureSpec):
            raise ValueError("the mlp model takes vector data (MixtureSpec); use kind='conv' for images")
        built = MLPAutoencoder(data.dim, model.latent_dim, model.num_codes, depth=model.depth, width=model.width,
                               decoder_depth=model.decoder_depth, decoder_width=model.decoder_width, **quantizer)
    else:
        if not isinstance(data, ImageSpec):
            raise ValueError("the conv model takes images (ImageSpec); use kind='mlp' for vector data")
        built = ConvVQVAE(model.num_codes, channels=model.channels, latent_dim=model.latent_dim,
                          num_downsamples=model.num_downsamples, num_res_blocks=model.num_res_blocks, **quantizer)
    if model.encoder_gain != 1.0:
        scale_encoder_output(built, model.encoder_gain)
    return built


def run_payload(spec: RunSpec, data_identity: str) -> dict:
    """What a run's result depends on, as plain data: the full spec and the data's content checksum."""
    return {"spec": store.spec_payload(spec), "data": data_identity}


def run_key(spec: RunSpec, data_identity: str | None = None) -> str:
    """The run's cache key (``data_identity`` defaults to the checksum of the spec's data, loaded once)."""
    if data_identity is None:
        data_identity = prepare(spec.data).identity
    return store.entry_key("run", run_payload(spec, data_identity))


@dataclass
class RunResult:
    spec: RunSpec
    history: pd.DataFrame
    state_dict: dict
    source: str  # where the data came from, in words
    wall_time: float  # seconds the training took when it ran (not the cache lookup)
    cached: bool = False
    key: str = ""  # the run's cache key: names it for artifacts built on it (priors, samples)

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
    """The run's model before training, its weights drawn from ``spec.seed``: the 'untrained encoder'.

    The weights are drawn inside a fork of torch's global random state, which is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return build_model(spec.model, spec.data)


def run(spec: RunSpec, force: bool | None = None, progress: bool | None = None, cache: bool = True,
        processes: int | None = None) -> RunResult:
    """Train the run described by ``spec``, or load it from the cache. Deterministic for a seed.

    ``cache=False`` trains without reading or writing the cache; ``force=True`` (or VQLIB_FORCE=1) retrains
    and overwrites the entry. ``processes`` > 1 (or VQLIB_PROCESSES) trains it data-parallel on that many
    processes of this machine through ``torchrun`` (:mod:`vqlib.distributed`, :mod:`vqlib.ddp`; one GPU each
    where there are GPUs): the global batch is the spec's (it must divide evenly among them: checked before any
    starts), so the result means the same; its last digits differ from a one-process run's, as a GPU run's
    differ from a CPU run's. Rank 0 stores it in the cache, where this call finds it (a rank that fails after
    that is a warning: :func:`_launch_torchrun`)."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"run() takes a RunSpec, got {type(spec).__name__}")
    processes = process_count(processes)
    data = prepare(spec.data)
    payload = run_payload(spec, data.identity)
    key = store.entry_key("run", payload)
    # Long runs checkpoint here and resume from it after a kill; only cached runs do (the key names the run).
    checkpoint = checkpoint_path(key) if cache else None
    if checkpoint is not None and store.force_requested(force):
        checkpoint.unlink(missing_ok=True)  # a forced rerun starts from step 0

    if processes > 1:
        if not cache:
            raise ValueError("a run on several processes meets its caller in the run cache: use cache=True")
        stored = None if store.force_requested(force) else store.load("run", payload)
        hit = stored is not None
        if not hit:
            spec.train.check_processes(processes, data.num_train)  # before any process starts, not in each rank
            _launch_torchrun(spec, processes, key, store.entry_path("run", payload))
            stored = store.load("run", payload)
            if stored is None:
                raise RuntimeError(f"torchrun finished, but run {key[:8]} is not in the cache ({paths.cache_dir()})")
    else:
        stored, hit = store.cached("run", payload, lambda: _train_entry(spec, data, key, device(), progress,
                                                                         checkpoint), force=force, enabled=cache)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the result is stored: the run is finished
    return RunResult(spec, pd.DataFrame(stored["history"]), stored["state_dict"], stored["source"],
                     stored["wall_time"], cached=hit, key=key)


def _train_entry(spec: RunSpec, data, key: str, train_device, progress, checkpoint, model=None) -> dict:
    """Train ``spec`` and return what its cache entry stores."""
    arithmetic.check()  # a warning when this process computes with other kernels than the pinned ones
    model = model if model is not None else accel.prepare_model(initial_model(spec), train_device)
    start = time.perf_counter()
    history = train(model, data, spec.train, seed=spec.seed, progress=progress,
                    description=f"{_describe(spec)} [{key[:8]}]", checkpoint=checkpoint)
    return {"history": history.to_dict("list"), "source": data.source, "wall_time": time.perf_counter() - start,
            "state_dict": {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}}


def process_count(processes: int | None = None) -> int:
    """Processes per run: ``processes`` if given, else VQLIB_PROCESSES (default 1)."""
    value = processes if processes is not None else os.environ.get("VQLIB_PROCESSES", "1")
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"processes (VQLIB_PROCESSES) must be an integer >= 1, got {value!r}")
    return count


def _launch_torchrun(spec: RunSpec, processes: int, key: str, entry: Path) -> None:
    """``torchrun --standalone --nproc_per_node N -m vqlib.ddp SPEC`` (VQLIB_TORCHRUN_ARGS replaces
    ``--standalone``, e.g. with multi-node rendezvous flags).

    A failed launch is an error, unless rank 0 stored the result (the run cache ``entry``) during this launch:
    then training finished and every rank passed the replica check before the store, so what failed is a
    rank's exit; that is a warning naming the exit status, and the stored result is used."""
    spec_file = paths.cache_dir() / "checkpoints" / f"run-{key}.spec.pkl"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    store.atomic_write(spec_file, lambda f: pickle.dump(spec, f))
    launcher = shlex.split(os.environ.get("VQLIB_TORCHRUN_ARGS", "--standalone"))
    command = [sys.executable, "-m", "torch.distributed.run", *launcher, "--nproc_per_node", str(processes),
               "-m", "vqlib.ddp", str(spec_file)]
    limit = os.environ.get("VQLIB_TORCHRUN_TIMEOUT")  # seconds; a hang then fails instead of waiting forever
    before = entry.stat().st_mtime_ns if entry.exists() else None
    try:
        finished = subprocess.run(command, check=False, timeout=float(limit) if limit else None)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"training {_describe(spec)} on {processes} processes did not finish within "
                           f"VQLIB_TORCHRUN_TIMEOUT={limit} s (killed)") from error
    finally:
        spec_file.unlink(missing_ok=True)
    if finished.returncode == 0:
        return
    if entry.exists() and entry.stat().st_mtime_ns != before:
        warnings.warn(f"training {_describe(spec)} on {processes} processes finished and its result is in the run "
                      f"cache ({entry}), but a rank failed afterwards, while leaving the process group or exiting "
                      f"(torchrun exit {finished.returncode}; its output is above): the stored result is used",
                      RuntimeWarning, stacklevel=3)
        return
    raise RuntimeError(f"training {_describe(spec)} on {processes} processes failed (torchrun exit "
                       f"{finished.returncode}; its output is above; nothing was stored). Command: "
                       f"{shlex.join(command)}")


def train_distributed(spec: RunSpec, train_device: torch.device) -> None:
    """One rank's part of a data-parallel run (called by ``python -m vqlib.ddp`` under torchrun): train, check
    that every rank ends with the same weights and quantizer state, and store the result (rank 0). The caller
    leaves the process group (:func:`vqlib.distributed.leave`: a barrier first, so no rank exits while rank 0
    is still storing)."""
    from . import distributed

    rank = distributed.rank()
    if rank == 0:  # decode an image folder once, before the other ranks read it
        prepare(spec.data)
    distributed.barrier()
    data = prepare(spec.data)
    payload = run_payload(spec, data.identity)
    key = store.entry_key("run", payload)
    model = accel.prepare_model(initial_model(spec), train_device)
    with executors.computing():
        entry = _train_entry(spec, data, key, train_device, None if rank == 0 else False, checkpoint_path(key),
                             model=model)
    distributed.check_replicas(model)
    if rank == 0:
        store.save("run", payload, entry)


def checkpoint_path(key: str) -> Path:
    """Where the run with cache key ``key`` keeps its checkpoint while it trains."""
    return paths.cache_dir() / "checkpoints" / f"run-{key}.ckpt"


def run_many(specs, desc: str = "runs", progress: bool | None = None, executor=None) -> list[RunResult]:
    """``run`` over a list of specs, the results in the specs' order (cached runs take milliseconds).

    The runs not in the cache are computed on ``executor``: any :class:`concurrent.futures.Executor` (a
    :func:`vqlib.executors.local_pool`, submitit's ``AutoExecutor``, ...); by default
    :func:`vqlib.executors.default_executor` (VQLIB_WORKERS processes, one per core or GPU), or this process
    when there is one worker or one run to compute. A spec listed twice is computed once. Workers write the
    shared cache (entries are written atomically, so a worker that dies leaves none) and the results are read
    back from it; every run computes with the same thread count wherever it runs, so its numbers do not
    depend on the executor (:mod:`vqlib.executors`).
    """
    specs = list(specs)
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"run_many() takes RunSpecs, got {type(spec).__name__}")
    missing: dict[str, tuple[RunSpec, dict]] = {}
    if not store.force_requested(None):
        for spec in specs:  # keys need the data's checksum: every dataset is prepared here, once, first
            payload = run_payload(spec, prepare(spec.data).identity)
            if not store.has("run", payload):
                missing.setdefault(store.entry_key("run", payload), (spec, payload))
    owned = executor is None and len(missing) > 1
    if owned:
        executor = executors.default_executor()
    if executor is not None and missing:
        try:
            # the costliest first, so a long run does not start last on an otherwise idle pool
            todo = sorted((spec for spec, _ in missing.values()), key=_cost, reverse=True)
            executors.submit_all(executor, _compute_run, todo, desc=f"{desc} ({len(todo)} to compute)",
                                 describe=_describe, progress=progress)
        finally:
            if owned:
                executor.shutdown(cancel_futures=True)
        for spec, payload in missing.values():
            if not store.has("run", payload):
                raise RuntimeError(f"a worker computed {_describe(spec)}, but its result is not in this process's "
                                   f"cache ({paths.cache_dir()}): point VQLIB_CACHE at a folder every worker "
                                   "can read and write")
    return [run(spec, progress=False) for spec in tqdm(specs, desc=desc, leave=False,
                                                       disable=not paths.progress_enabled(progress))]


def _compute_run(spec: RunSpec) -> str:
    """What a worker does for :func:`run_many`: train ``spec`` into the cache; returns its key."""
    return run(spec, progress=False).key


def _cost(spec: RunSpec) -> float:
    """A rough relative cost of a run (for scheduling only): steps x batch x pixels or dimensions."""
    data = spec.data
    size = data.resolution ** 2 * 3 * spec.model.channels / 32 if isinstance(data, ImageSpec) else data.dim
    return spec.train.steps * spec.train.batch_size * size


def _describe(spec: RunSpec) -> str:
    t = spec.train
    arm = "early" if t.quantize_from == 0 else f"deferred@{t.quantize_from}"
    return f"{arm} {t.codebook_init} K={spec.model.num_codes} seed={spec.seed}"
