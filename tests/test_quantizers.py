"""The quantizer kinds: the registry, each kind's validated config, ModelSpec/RunSpec's checks of dependent
fields, the cache-key surface, and a new kind added as one module (a reparameterized codebook) trained by the
normal loop without touching it."""

import dataclasses
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vqlib import cache, quantizers
from vqlib.data import MixtureSpec, load
from vqlib.experiments import ModelSpec, RunSpec, build_model, run
from vqlib.models import MLPAutoencoder
from vqlib.quantizers import (
    PeerConfig,
    PeerQuantizer,
    Quantizer,
    QuantizerConfig,
    QuantizerLike,
    VectorQuantizer,
    VQConfig,
    VQOutput,
    nearest_code,
)
from vqlib.train import TrainSpec, train

DATA = MixtureSpec(num_components=4, points_per_component=50, dim=3)
TRAIN = TrainSpec(steps=12, batch_size=32, eval_every=4, init_samples=100, kmeans_iters=3)


# -- the registry --------------------------------------------------------------------------------------------------
def test_the_two_kinds_are_registered_under_their_spec_names():
    assert quantizers.get("vqlib") is VectorQuantizer and VectorQuantizer.kind == "vqlib"
    assert quantizers.get("vector-quantize-pytorch") is PeerQuantizer
    assert VectorQuantizer.config_class is VQConfig and PeerQuantizer.config_class is PeerConfig
    with pytest.raises(ValueError, match=r"unknown quantizer 'faiss'.*'vqlib'.*'vector-quantize-pytorch'|"
                                         r"unknown quantizer 'faiss'.*'vector-quantize-pytorch'.*'vqlib'"):
        quantizers.get("faiss")
    with pytest.raises(TypeError):  # read-only view
        quantizers.REGISTRY["x"] = VectorQuantizer


@pytest.mark.parametrize("name", ["vqlib", "vector-quantize-pytorch", "simvq"])
def test_every_kind_builds_from_its_default_config_and_keeps_the_contract(name):
    torch.manual_seed(0)
    layer = quantizers.build(name, None, 8, 4)
    assert isinstance(layer, Quantizer) and isinstance(layer, QuantizerLike) and layer.kind == name
    layer.initialize(torch.randn(8, 4, generator=torch.Generator().manual_seed(1)))
    z = torch.randn(10, 4)
    out = layer.eval()(z)
    assert isinstance(out, VQOutput) and out.quantized.shape == (10, 4) and out.indices.shape == (10,)
    assert torch.equal(out.indices.long(), nearest_code(layer.embed(z), layer.codes())[0])  # the nearest codes
    assert layer.codes().shape == (8, 4) and not layer.codes().requires_grad
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        layer(torch.zeros(3, 5))
    with pytest.raises(TypeError, match="takes a"):
        type(layer).from_config(PeerConfig() if name == "vqlib" else VQConfig(), 8, 4)


def test_register_checks_what_it_is_given():
    @dataclass  # not frozen, not a QuantizerConfig
    class Loose:
        beta: float = 0.25

    class LooseConfig(Quantizer):
        config_class = Loose

    with pytest.raises(TypeError, match="frozen dataclass derived from QuantizerConfig"):
        quantizers.register("loose")(LooseConfig)
    with pytest.raises(TypeError, match="frozen dataclass derived from QuantizerConfig"):
        quantizers.register("loose")(Quantizer)  # the base's config has no options: not a kind
    with pytest.raises(TypeError, match="subclass of vqlib.quantizers.Quantizer"):
        quantizers.register("linear")(nn.Linear)
    with pytest.raises(ValueError, match="already registered"):
        quantizers.register("vqlib")(ReparamQuantizer)

    class BadOwn(ReparamQuantizer):
        own_init = "sometimes"

    with pytest.raises(ValueError, match="own_init"):
        quantizers.register("bad-own")(BadOwn)
    assert "loose" not in quantizers.REGISTRY and "bad-own" not in quantizers.REGISTRY
    with pytest.raises(ValueError, match="unknown quantizer"):
        quantizers.unregister("loose")


# -- each config's validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, field, bad", [
    (VQConfig, "beta", -0.1), (VQConfig, "decay", 1.0), (VQConfig, "decay", -0.5), (VQConfig, "eps", -1e-9),
    (VQConfig, "dead_code_threshold", -1.0), (VQConfig, "ema", 1), (VQConfig, "cosine", "yes"),
    (VQConfig, "code_dim", 0), (VQConfig, "code_dim", 2.5), (VQConfig, "code_dim", True), (VQConfig, "beta", "0.25"),
    (PeerConfig, "beta", -1.0), (PeerConfig, "decay", 1.5), (PeerConfig, "dead_code_threshold", -2.0),
    (PeerConfig, "kmeans_init", None), (PeerConfig, "kmeans_iters", 0),
])
def test_a_config_rejects_a_bad_value_naming_the_class_and_field(config, field, bad):
    with pytest.raises(ValueError, match=rf"{config.__name__}\.{field} must be"):
        config(**{field: bad})


def test_a_config_is_frozen_and_checks_what_needs_the_layer_size():
    config = VQConfig(code_dim=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.beta = 1.0
    config.check(8, 3)
    with pytest.raises(ValueError, match=r"code_dim must be an integer in \[1, dim=2\]"):
        config.check(8, 2)
    with pytest.raises(ValueError, match="num_codes"):
        VectorQuantizer.from_config(VQConfig(), 0, 4)
    # the keyword constructor checks through the same config
    with pytest.raises(ValueError, match=r"VQConfig\.beta"):
        VectorQuantizer(4, 4, beta=-1.0)


# -- ModelSpec and RunSpec: dependent fields ------------------------------------------------------------------------
def test_model_spec_derives_each_legacy_kind_config_from_its_flat_fields():
    assert ModelSpec().quantizer_config() == VQConfig(ema=True)  # the spec's defaults: the paper's EMA baseline
    model = ModelSpec(latent_dim=8, beta=0.5, ema=False, decay=0.9, dead_code_threshold=1.0, cosine=True,
                      code_dim=2)
    assert model.quantizer_config() == VQConfig(beta=0.5, ema=False, decay=0.9, dead_code_threshold=1.0,
                                                cosine=True, code_dim=2)
    peer = ModelSpec(quantizer="vector-quantize-pytorch", beta=0.3, decay=0.8, dead_code_threshold=2.0,
                     peer_kmeans_init=False)
    assert peer.quantizer_config() == PeerConfig(beta=0.3, decay=0.8, dead_code_threshold=2.0, kmeans_init=False)
    # a later field of a legacy kind's config travels in quantizer_options
    assert ModelSpec(quantizer_options=VQConfig(eps=1e-3)).quantizer_config() == VQConfig(ema=True, eps=1e-3)


@pytest.mark.parametrize("field, value", [("cosine", True), ("code_dim", 2), ("ema", False)])
def test_vqlib_only_switches_are_rejected_for_the_peer_naming_field_and_default(field, value):
    with pytest.raises(ValueError, match=rf"ModelSpec\.{field}={value!r}: quantizer 'vector-quantize-pytorch' has "
                                         rf"no switch '{field}'; leave it at .*'vqlib'"):
        ModelSpec(quantizer="vector-quantize-pytorch", **{field: value})


def test_other_dependent_fields_are_checked_when_the_spec_is_made():
    with pytest.raises(ValueError, match=r"ModelSpec\.peer_kmeans_init=False: quantizer 'vqlib' has no switch .*"
                                         r"leave it at True.*'vector-quantize-pytorch'"):
        ModelSpec(peer_kmeans_init=False)
    with pytest.raises(ValueError, match=r"ModelSpec\(quantizer='vqlib'\): VQConfig\.decay must be a number in "
                                         r"\[0, 1\)"):
        ModelSpec(decay=1.0)
    with pytest.raises(ValueError, match=r"code_dim must be an integer in \[1, dim=4\]"):
        ModelSpec(latent_dim=4, code_dim=8)
    with pytest.raises(ValueError, match="quantizer_options is a PeerConfig, but quantizer 'vqlib' takes a VQConfig"):
        ModelSpec(quantizer_options=PeerConfig())
    with pytest.raises(ValueError, match=r"quantizer_options sets beta=0\.5: .* set it as ModelSpec\.beta"):
        ModelSpec(quantizer_options=VQConfig(beta=0.5))
    with pytest.raises(ValueError, match="unknown quantizer 'faiss'"):
        ModelSpec(quantizer="faiss")


def test_own_initialization_only_with_a_quantizer_that_initializes_itself():
    own = dataclasses.replace(TRAIN, codebook_init="own")
    with pytest.raises(ValueError, match=r"TrainSpec\.codebook_init='own' does not fit quantizer 'vqlib' .*"
                                         r"\['fsq', 'vector-quantize-pytorch', 'simvq'\].*choose one of \['normal', "
                                         r"'uniform', 'sample', 'kmeans', 'matched_normal'\]"):
        RunSpec(DATA, ModelSpec(num_codes=8, latent_dim=4), own)
    RunSpec(DATA, ModelSpec(num_codes=8, latent_dim=4, quantizer="vector-quantize-pytorch"), own)
    # train() called directly checks it too, before any step
    torch.manual_seed(0)
    model = build_model(ModelSpec(num_codes=8, latent_dim=4), DATA)
    with pytest.raises(ValueError, match="codebook_init='own' does not fit the quantizer 'vqlib'"):
        train(model, load(DATA), own)


def test_the_studies_replace_calls_keep_working():
    base = ModelSpec(num_codes=8, latent_dim=8)
    for change in (dict(ema=False), dict(dead_code_threshold=1.0), dict(cosine=True), dict(code_dim=2),
                   dict(num_codes=32, channels=16),
                   dict(quantizer="vector-quantize-pytorch", dead_code_threshold=2.0),
                   dict(quantizer="vector-quantize-pytorch", dead_code_threshold=0.0, peer_kmeans_init=False)):
        assert dataclasses.replace(base, **change).quantizer_config() is not None


def test_the_cache_key_surface_is_the_flat_layout():
    payload = cache.spec_payload(ModelSpec())
    assert "quantizer_options" not in payload and "peer_kmeans_init" not in payload  # left out at "absent"
    assert {"beta", "ema", "decay", "dead_code_threshold", "cosine", "code_dim", "quantizer"} <= set(payload)
    with_options = cache.spec_payload(ModelSpec(quantizer_options=VQConfig(eps=1e-3)))
    assert with_options["quantizer_options"] == {"_type": "VQConfig", **dataclasses.asdict(VQConfig(eps=1e-3))}


def test_build_model_keeps_each_kind_place_among_the_random_draws():
    """Which random numbers each weight gets depends on when the quantizer is built: vqlib's inside the model
    after the encoder and decoder, the peer's before the model (cached runs were trained so)."""
    spec = ModelSpec(num_codes=8, latent_dim=4, depth=1, width=16, cosine=True, code_dim=2)
    torch.manual_seed(0)
    built = build_model(spec, DATA).state_dict()
    torch.manual_seed(0)
    by_hand = MLPAutoencoder(3, 4, 8, depth=1, width=16, ema=True, cosine=True, code_dim=2).state_dict()
    assert built.keys() == by_hand.keys() and all(torch.equal(built[k], by_hand[k]) for k in built)
    peer = ModelSpec(num_codes=8, latent_dim=4, depth=1, width=16, quantizer="vector-quantize-pytorch",
                     peer_kmeans_init=False)
    torch.manual_seed(0)
    built = build_model(peer, DATA).state_dict()
    torch.manual_seed(0)
    first = PeerQuantizer(8, 4, kmeans_init=False)
    by_hand = MLPAutoencoder(3, 4, 8, depth=1, width=16, quantizer=first).state_dict()
    assert built.keys() == by_hand.keys() and all(torch.equal(built[k], by_hand[k]) for k in built)


# -- a new kind, as one module -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReparamConfig(QuantizerConfig):
    beta: float = 0.25

    def __post_init__(self):
        self._check_number("beta", 0.0)


class ReparamQuantizer(Quantizer):
    """A SimVQ-like test kind: a frozen basis [K, d] through a learned linear map; the effective codes are
    ``map(basis)``, not a parameter, and move with the map at every step. It has no ``codebook`` attribute."""

    config_class = ReparamConfig
    own_init = "embeddings"

    def __init__(self, num_codes, dim, *, beta=0.25, active=True):
        super().__init__()
        quantizers.check_size(num_codes, dim)
        self.num_codes, self.dim, self.code_dim, self.beta, self.active = num_codes, dim, dim, beta, active
        self.register_buffer("basis", torch.randn(num_codes, dim) * dim ** -0.5)
        self.map = nn.Linear(dim, dim, bias=False)
        self.project_out = nn.Identity()

    def embed(self, z):
        return z.float()

    def codes(self):
        with torch.no_grad():
            return self.map(self.basis).float()

    @torch.no_grad()
    def initialize(self, codebook):
        self.basis.copy_(codebook)
        self.map.weight.copy_(torch.eye(self.dim))

    @torch.no_grad()
    def initialize_from_embeddings(self, embeddings, generator):
        pick = torch.randint(0, embeddings.shape[0], (self.num_codes,), generator=generator)
        self.initialize(embeddings[pick].to(self.basis.device))
        self.initialized_from = embeddings.shape

    def quantize(self, z):
        input_dtype, z = z.dtype, self.embed(z)
        codebook = self.map(self.basis)  # gradients reach the map through every used code
        indices, _ = nearest_code(z, codebook, self.chunk_size)
        z_q = F.embedding(indices, codebook)
        commitment, codebook_loss = F.mse_loss(z, z_q.detach()), F.mse_loss(z_q, z.detach())
        quantized = (z + (z_q - z).detach()).to(input_dtype)
        return VQOutput(quantized, indices, self.beta * commitment + codebook_loss, commitment.detach(),
                        codebook_loss.detach())


@pytest.fixture
def reparam():
    quantizers.register("test-reparam")(ReparamQuantizer)
    yield ReparamQuantizer
    quantizers.unregister("test-reparam")


@pytest.mark.parametrize("init", ["kmeans", "own"])
def test_a_new_kind_is_one_module_built_by_the_spec_and_trained_by_the_normal_loop(reparam, init):
    spec = RunSpec(DATA, ModelSpec(num_codes=8, latent_dim=4, depth=1, width=16, quantizer="test-reparam",
                                   quantizer_options=ReparamConfig(beta=0.5)),
                   dataclasses.replace(TRAIN, quantize_from=4, codebook_init=init), seed=0)
    assert spec.model.quantizer_config() == ReparamConfig(beta=0.5)
    result = run(spec, cache=False)
    model = result.model()
    vq = model.quantizer
    assert isinstance(vq, ReparamQuantizer) and vq.beta == 0.5 and not hasattr(vq, "codebook")
    assert result.history.quantized.tolist() == [False, True, True, True]
    assert result.history.utilization.iloc[1:].between(0, 1).all()
    # codes() is the reparameterized codebook, and training moved it through the map (the basis is frozen)
    assert torch.allclose(vq.codes(), vq.basis @ vq.map.weight.T)
    assert not torch.allclose(vq.map.weight, torch.eye(4))
    # what the switch initialized is the basis: from the initializer's codebook, or its own way
    if init == "own":
        torch.manual_seed(0)
        again = build_model(spec.model, DATA)
        train(again, load(DATA), spec.train, seed=0)
        assert again.quantizer.initialized_from == (TRAIN.init_samples, 4)  # a sample of lookup-space embeddings
    # the decoder reads tokens through codes()
    x = load(DATA).train[:5]
    with torch.no_grad():
        out = model(x)
        assert torch.allclose(model.decode_indices(out.indices), out.reconstruction, atol=1e-6)
    # its config is the spec's cache-key surface for it
    assert cache.spec_payload(spec.model)["quantizer_options"] == {"_type": "ReparamConfig", "beta": 0.5}


def test_a_new_kind_gets_its_config_validated_and_no_flat_switches(reparam):
    with pytest.raises(ValueError, match=r"ReparamConfig\.beta must be"):
        ReparamConfig(beta=-1.0)
    with pytest.raises(ValueError, match="quantizer_options is a VQConfig, but quantizer 'test-reparam' takes a "
                                         "ReparamConfig"):
        ModelSpec(quantizer="test-reparam", quantizer_options=VQConfig())
    for field, value in (("ema", False), ("cosine", True), ("dead_code_threshold", 1.0), ("beta", 0.5)):
        with pytest.raises(ValueError, match=rf"ModelSpec\.{field}=.*'test-reparam' has no switch '{field}'"):
            ModelSpec(quantizer="test-reparam", **{field: value})
    # no options: the config's defaults; it initializes itself, so "own" fits it
    assert ModelSpec(quantizer="test-reparam").quantizer_config() == ReparamConfig()
    RunSpec(DATA, ModelSpec(quantizer="test-reparam"), dataclasses.replace(TRAIN, codebook_init="own"))
