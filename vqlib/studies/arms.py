"""The arm registry: every way the studies turn a base run into an arm, by a short identifier.

An :class:`Arm` has an ``id`` (what code and tables use), a ``label`` (what figures and prose show), one
``color`` (the same in every figure), a ``family`` (early quantization, deferred quantization, or the
outside reference) and a function from a base :class:`~vqlib.experiments.RunSpec` to the arm's spec. Every
arm keeps the base spec's total step budget, data and model size; it changes only the quantization
schedule, the initializer and the quantizer's switches, as its ``description`` says.

The protocol's arms (DIGEST.md): ``early_kmeans`` is *the* early-quantization baseline of the paper
(k-means on the untrained encoder's outputs at step 0, EMA updates); ``early_normal`` and ``early_uniform``
are random codebooks trained by the codebook loss; ``deferred`` is deferred quantization with a continuous
phase of a third of the budget, then k-means on the trained encoder's outputs and EMA updates. Notebook 03
adds other lengths of the continuous phase, other initializers at the switch, and the classic remedies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..experiments import RunSpec
from ..quantizers import FSQConfig, PeerConfig, SimVQConfig, VQConfig

__all__ = ["Arm", "ARMS", "BASELINE", "DEFERRED", "arm", "colors", "DEFER_FRACTION", "DEAD_CODE_THRESHOLD",
           "INITIALIZATION_ARMS", "FSQ_LEVELS", "FSQ_CODES", "REMEDIES"]

#: T_c as a fraction of the step budget for the ``deferred`` arm (the protocol's choice, before any result)
DEFER_FRACTION = 1 / 3
#: re-initialize codes whose moving-average count per step falls below this (``early_dead_code``)
DEAD_CODE_THRESHOLD = 1.0
#: vector-quantize-pytorch's ``threshold_ema_dead_code`` in the ``vqtorch`` arm
PEER_DEAD_CODE_THRESHOLD = 2.0
#: the FSQ arms' levels: the FSQ paper's choice for a codebook of about 2^8 (8 x 6 x 5 = 240 codes)
FSQ_LEVELS = (8, 6, 5)
#: the FSQ arms' codebook size, the product of their levels
FSQ_CODES = math.prod(FSQ_LEVELS)

FAMILY_COLORS = {"early": "#d62728", "deferred": "#1f77b4", "reference": "0.5"}


@dataclass(frozen=True)
class Arm:
    id: str
    label: str
    color: str
    family: str  # "early", "deferred" or "reference"
    description: str
    make: Callable[[RunSpec], RunSpec] = field(repr=False, compare=False)
    #: the fraction of the step budget trained continuously before quantization starts (0: early quantization)
    continuous: float = 0.0

    @property
    def t_c_percent(self) -> int:
        """T_c as a whole percentage of the budget (0 for early quantization; 33 for the deferred arm)."""
        return round(100 * self.continuous)

    def t_c(self, steps: int) -> int:
        """The step at which this arm switches quantization on, in a run of ``steps`` steps."""
        return _switch_step(self.continuous, steps) if self.continuous else 0

    def __call__(self, spec: RunSpec) -> RunSpec:
        """``spec`` turned into this arm (same data, model size and total step budget)."""
        if not isinstance(spec, RunSpec):
            raise TypeError(f"an arm turns a RunSpec into another, got {type(spec).__name__}")
        return self.make(spec)

    @property
    def family_color(self) -> str:
        """The colour of the arm's family (red early, blue deferred, grey reference)."""
        return FAMILY_COLORS[self.family]


def _replace(spec: RunSpec, model: dict | None = None, **train) -> RunSpec:
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, **(model or {})),
                               train=dataclasses.replace(spec.train, **train))


def _early(init: str, ema: bool) -> Callable[[RunSpec], RunSpec]:
    return lambda spec: _replace(spec, model=dict(ema=ema), quantize_from=0, codebook_init=init)


def _switch_step(fraction: float, steps: int) -> int:
    """T_c: the first quantized step of a deferred run (at least 1, so a continuous phase always exists)."""
    return max(1, round(fraction * steps))


def _deferred(fraction: float, init: str = "kmeans") -> Callable[[RunSpec], RunSpec]:
    if not 0 < fraction < 1:
        raise ValueError(f"the fraction of the budget spent continuous must lie in (0, 1), got {fraction!r}")
    return lambda spec: _replace(spec, model=dict(ema=True), codebook_init=init,
                                 quantize_from=_switch_step(fraction, spec.train.steps))


def _then(first: Callable[[RunSpec], RunSpec], model: dict | None = None, **train) -> Callable[[RunSpec], RunSpec]:
    return lambda spec: _replace(first(spec), model=model, **train)


_early_kmeans = _early("kmeans", ema=True)
_BLUES = {5: "#9ecae1", 10: "#6baed6", 25: "#3182bd", 50: "#08519c"}


def _remedy(schedule: str, model: dict | Callable[[RunSpec], dict] | None = None, init: str = "kmeans",
            ema: bool = True) -> Callable[[RunSpec], RunSpec]:
    """A modern remedy (notebook 06) ``early`` (from step 0) or ``deferred`` (switched on at the deferred arm's
    T_c), with the initializer ``init`` at the start of quantization and ``model`` changes (its quantizer; a
    function of the base spec where they depend on it), all made at once (a quantizer and its initializer must
    fit together)."""
    def make(spec: RunSpec) -> RunSpec:
        start = 0 if schedule == "early" else _switch_step(DEFER_FRACTION, spec.train.steps)
        changes = model(spec) if callable(model) else (model or {})
        return _replace(spec, model={"ema": ema, **changes}, quantize_from=start, codebook_init=init)

    return make


def _fsq(spec: RunSpec) -> dict:
    return dict(quantizer="fsq", num_codes=FSQ_CODES, quantizer_options=FSQConfig(levels=FSQ_LEVELS))


#: notebook 06's remedies: name -> (what it changes, the model changes, its own initializer, EMA or not)
REMEDIES = {
    "rotation trick": ("the gradient reaches the encoder through a rotation of its output onto the code (Fifty et al. "
                       "2024), k-means and EMA as the baseline", dict(quantizer_options=VQConfig(rotation_trick=True)),
                       "kmeans", True),
    "online clustering": ("CVQ-VAE's online clustered codebook (Zheng & Vedaldi 2023): rarely used codes pulled toward "
                          "their closest batch embeddings; its own init U(-1/K, 1/K), the codebook loss",
                          dict(quantizer_options=VQConfig(online_clustering=True)), "uniform", False),
    "SimVQ": ("SimVQ (Zhu et al. 2024): a frozen random basis through a learned linear map, its own initialization",
              dict(quantizer="simvq", quantizer_options=SimVQConfig()), "own", True),
    "FSQ": (f"finite scalar quantization (Mentzer et al. 2023), levels {FSQ_LEVELS} "
            f"(K = 240, the paper's choice near 2^8), no learned codebook", _fsq, "own", True),
}
_REMEDY_IDS = {"rotation trick": "rotation", "online clustering": "cvq", "SimVQ": "simvq", "FSQ": "fsq"}
_REMEDY_COLORS = {"rotation": ("#de9ed6", "#a55194"), "cvq": ("#b5cf6b", "#637939"), "simvq": ("#e7969c", "#843c39"),
                  "fsq": ("#9c9ede", "#5254a3")}


def _remedy_arms() -> list[Arm]:
    out = []
    for name, (what, model, init, ema) in REMEDIES.items():
        key = _REMEDY_IDS[name]
        for schedule, color in zip(("early", "deferred"), _REMEDY_COLORS[key]):
            make = _remedy(schedule, model, init, ema)
            when = ("from step 0" if schedule == "early" else
                    f"switched on after a continuous first {round(100 * DEFER_FRACTION)} % of the steps")
            out.append(Arm(f"{schedule}_{key}", f"{schedule} + {name}", color, schedule, f"{what}; {when}", make,
                           DEFER_FRACTION if schedule == "deferred" else 0.0))
    return out

_ARM_LIST = [
    Arm("early_kmeans", "early k-means (baseline)", "#d62728", "early",
        "quantize from step 0; k-means on the untrained encoder's outputs; EMA updates (the paper's baseline)",
        _early_kmeans),
    Arm("early_normal", "early normal", "#ff7f0e", "early",
        "quantize from step 0; codebook N(0, s^2) (s = TrainSpec.init_scale); trained by the codebook loss",
        _early("normal", ema=False)),
    Arm("early_normal_ema", "early normal + EMA", "#ffbb78", "early",
        "as early normal (codebook N(0, s^2) at step 0), but updated by EMA like the baseline: separates the "
        "initialization from the update rule", _early("normal", ema=True)),
    Arm("early_matched_normal", "early normal, matched scale + EMA", "#c49c94", "early",
        "as early normal + EMA, but drawn from a normal with the untrained encoder's mean and covariance at step "
        "0: a random codebook exactly as spread as the embeddings (separates randomness from scale)",
        _early("matched_normal", ema=True)),
    Arm("early_uniform", "early uniform", "#8c564b", "early",
        "quantize from step 0; codebook U(-1/K, 1/K); trained by the codebook loss", _early("uniform", ema=False)),
    Arm("deferred", "deferred", "#1f77b4", "deferred",
        "continuous for the first third of the steps; then k-means on the trained encoder's outputs; EMA",
        _deferred(DEFER_FRACTION), DEFER_FRACTION),
    *[Arm(f"deferred_{pct:02d}", f"deferred T_c={pct}%", _BLUES[pct], "deferred",
          f"as deferred, continuous for the first {pct} % of the steps", _deferred(pct / 100), pct / 100)
      for pct in (5, 10, 25, 50)],
    Arm("deferred_normal_init", "deferred, normal init at switch", "#17becf", "deferred",
        "as deferred, but the codebook at the switch is N(0, s^2), not drawn from the embeddings",
        _then(_deferred(DEFER_FRACTION), codebook_init="normal"), DEFER_FRACTION),
    Arm("deferred_matched_normal", "deferred, matched normal at switch", "#9edae5", "deferred",
        "as deferred, but the codebook at the switch is drawn from a normal with the trained embeddings' mean and "
        "covariance: random, yet exactly as spread as the embeddings",
        _then(_deferred(DEFER_FRACTION), codebook_init="matched_normal"), DEFER_FRACTION),
    Arm("deferred_sample_init", "deferred, sampled init at switch", "#2ca02c", "deferred",
        "as deferred, but the codebook at the switch is a random sample of embeddings instead of k-means",
        _then(_deferred(DEFER_FRACTION), codebook_init="sample"), DEFER_FRACTION),
    Arm("deferred_dead_code", "deferred + dead-code re-init", "#393b79", "deferred",
        f"as deferred, also re-initializing codes whose moving-average count falls below {DEAD_CODE_THRESHOLD:g}",
        _then(_deferred(DEFER_FRACTION), model=dict(dead_code_threshold=DEAD_CODE_THRESHOLD)), DEFER_FRACTION),
    Arm("early_no_ema", "early k-means, no EMA (codebook loss)", "#e377c2", "early",
        "as the baseline, with the codebook trained by the codebook loss instead of EMA updates",
        _then(_early_kmeans, model=dict(ema=False))),
    Arm("early_dead_code", "early + dead-code re-init", "#bcbd22", "early",
        f"as the baseline, re-initializing codes whose moving-average count falls below {DEAD_CODE_THRESHOLD:g} "
        "from the current batch", _then(_early_kmeans, model=dict(dead_code_threshold=DEAD_CODE_THRESHOLD))),
    Arm("early_cosine", "early + cosine codes", "#9467bd", "early",
        "as the baseline, with l2-normalized embeddings and codes", _then(_early_kmeans, model=dict(cosine=True))),
    Arm("early_lowdim", "early + low-dim lookup (d/4)", "#8c6d31", "early",
        "as the baseline, looking codes up in a learned projection to a quarter of the latent dimension",
        lambda spec: _replace(_early_kmeans(spec), model=dict(code_dim=max(1, spec.model.latent_dim // 4)))),
    Arm("vqtorch", "vector-quantize-pytorch (rotation trick, k-means, expiry)", "0.5", "reference",
        "vector_quantize_pytorch.VectorQuantize from step 0: its own k-means on the first batch, EMA, dead-code "
        f"expiry below {PEER_DEAD_CODE_THRESHOLD:g}, and the rotation trick (the package's default in 1.32: not "
        "plain straight-through)",
        _then(_early_kmeans, model=dict(quantizer="vector-quantize-pytorch",
                                        dead_code_threshold=PEER_DEAD_CODE_THRESHOLD), codebook_init="own")),
    Arm("vqtorch_ste", "vector-quantize-pytorch, straight-through", "0.75", "reference",
        "as vector-quantize-pytorch (rotation trick, k-means, expiry), with its rotation trick off: the "
        "straight-through estimator",
        _then(_early_kmeans, model=dict(quantizer="vector-quantize-pytorch",
                                        dead_code_threshold=PEER_DEAD_CODE_THRESHOLD,
                                        quantizer_options=PeerConfig(rotation_trick=False)), codebook_init="own")),
    *_remedy_arms(),
]

#: every arm by id, in the order tables list them
ARMS: dict[str, Arm] = {a.id: a for a in _ARM_LIST}
#: the protocol's two main arms: the paper's early-quantization baseline and deferred quantization
BASELINE, DEFERRED = ARMS["early_kmeans"], ARMS["deferred"]
#: the four arms of the initialization studies (notebooks 01 and 02)
INITIALIZATION_ARMS = ("early_kmeans", "early_normal", "early_uniform", "deferred")


def arm(arm_id: str) -> Arm:
    """The arm with this id; an unknown id is an error that lists the known ones."""
    if arm_id not in ARMS:
        raise ValueError(f"unknown arm {arm_id!r}; choose one of {list(ARMS)}")
    return ARMS[arm_id]


def colors() -> dict[str, str]:
    """Colour of every arm by id *and* by label (plots group by either)."""
    out = {a.id: a.color for a in ARMS.values()}
    out.update({a.label: a.color for a in ARMS.values()})
    return out
