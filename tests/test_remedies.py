"""The modern remedies of notebook 06, each checked on hand-computed cases and against vector-quantize-pytorch's
implementation: the rotation trick (a switch of vqlib's layer and of the peer), SimVQ, CVQ-VAE's online clustered
codebook (a switch of vqlib's layer) and FSQ (through the peer's FSQ)."""

import math

import pytest
import torch

from vqlib.experiments import ModelSpec, RunSpec
from vqlib.quantizers import (
    FSQConfig,
    FSQuantizer,
    PeerConfig,
    PeerQuantizer,
    SimVQ,
    SimVQConfig,
    VectorQuantizer,
    VQConfig,
    nearest_code,
    rotate_to,
)

peer_vq = pytest.importorskip("vector_quantize_pytorch")


# ---- the rotation trick ------------------------------------------------------------------------------------------

def test_the_rotation_trick_returns_the_code_and_rotates_the_gradient_by_hand():
    """z = (2, 0), code = (0, 1): R turns (1, 0) onto (0, 1) (a quarter turn) and the scale is |code| / |z| = 1/2,
    so an upstream gradient g = (1, 0) reaches z as 1/2 R^T g = (0, -1/2); straight-through would pass (1, 0)."""
    z = torch.tensor([[2.0, 0.0]], requires_grad=True)
    code = torch.tensor([[0.0, 1.0]])
    out = rotate_to(z, code)
    assert out.detach()[0].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    (out * torch.tensor([[1.0, 0.0]])).sum().backward()
    assert z.grad[0].tolist() == pytest.approx([0.0, -0.5], abs=1e-6)


def test_the_rotation_trick_leaves_a_code_on_the_vectors_direction_a_rescale():
    """Same direction: R is the identity, so the gradient is only scaled by |code| / |z|."""
    z = torch.tensor([[3.0, 4.0]], requires_grad=True)
    code = torch.tensor([[0.6, 0.8]])
    rotate_to(z, code).sum().backward()
    assert z.grad[0].tolist() == pytest.approx([0.2, 0.2], abs=1e-6)


def test_the_rotation_trick_matches_the_peers_outputs_and_gradients():
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to as peer_rotate_to

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(64, 8, generator=gen)
    code = torch.randn(64, 8, generator=gen)
    upstream = torch.randn(64, 8, generator=gen)
    ours, theirs = z.clone().requires_grad_(), z.clone().requires_grad_()
    out, peer_out = rotate_to(ours, code), peer_rotate_to(theirs, code)
    torch.testing.assert_close(out, peer_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, code, rtol=1e-5, atol=1e-5)  # the forward value is the code
    (out * upstream).sum().backward()
    (peer_out * upstream).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-6)


def test_vqlibs_layer_with_the_rotation_trick_matches_the_peers_layer():
    """Same codebook, EMA on both: the same codes out, and the same gradient into the encoder's outputs."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    codebook = torch.randn(16, 8, generator=gen)
    z = torch.randn(128, 8, generator=gen)
    upstream = torch.randn(128, 8, generator=gen)
    ours = VectorQuantizer(16, 8, ema=True, rotation_trick=True)
    ours.initialize(codebook)
    peer = PeerQuantizer(16, 8, kmeans_init=False, rotation_trick=True)
    peer.initialize(codebook)
    grads, outputs = [], []
    for layer in (ours, peer):
        x = z.clone().requires_grad_()
        out = layer(x)
        (out.quantized * upstream).sum().backward()
        grads.append(x.grad)
        outputs.append((out.quantized.detach(), out.indices))
    assert torch.equal(outputs[0][1], outputs[1][1])
    torch.testing.assert_close(outputs[0][0], outputs[1][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_the_rotation_trick_changes_the_gradient_not_the_forward_of_vqlibs_layer():
    gen = torch.Generator().manual_seed(2)
    codebook, z = torch.randn(8, 4, generator=gen), torch.randn(32, 4, generator=gen)
    results = []
    for rotation in (False, True):
        layer = VectorQuantizer(8, 4, ema=True, rotation_trick=rotation).eval()
        layer.initialize(codebook)
        x = z.clone().requires_grad_()
        out = layer(x)
        out.quantized.sum().backward()
        results.append((out.quantized.detach(), x.grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-5)
    assert torch.equal(results[0][1], torch.ones_like(z))  # straight-through copies the gradient
    assert not torch.allclose(results[1][1], torch.ones_like(z))


def test_the_peer_can_run_with_the_straight_through_estimator():
    """vector-quantize-pytorch 1.32 turns the rotation trick on by default; PeerConfig(rotation_trick=False) turns
    it off: the gradient is then copied (the identity)."""
    assert PeerQuantizer(8, 4, kmeans_init=False).layer.rotation_trick is True  # the package's default, kept
    layer = PeerQuantizer(8, 4, kmeans_init=False, rotation_trick=False)
    assert layer.layer.rotation_trick is False
    x = torch.randn(16, 4, requires_grad=True)
    layer(x).quantized.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_a_rotation_trick_spec_keeps_the_old_cache_keys_and_gets_its_own():
    """The switch lives in quantizer_options: specs without it hash as before; with it, to a new key."""
    plain = ModelSpec(num_codes=8, latent_dim=4)
    rotated = ModelSpec(num_codes=8, latent_dim=4, quantizer_options=VQConfig(rotation_trick=True))
    assert "quantizer_options" not in RunSpec(model=plain).to_dict()["model"]
    assert rotated.quantizer_config() == VQConfig(ema=True, rotation_trick=True)
    assert RunSpec(model=rotated).to_dict()["model"]["quantizer_options"]["rotation_trick"] is True
    peer = ModelSpec(num_codes=8, latent_dim=4, quantizer="vector-quantize-pytorch",
                     quantizer_options=PeerConfig(rotation_trick=False))
    assert peer.quantizer_config().rotation_trick is False


@pytest.mark.parametrize("config, field", [(VQConfig, "rotation_trick"), (PeerConfig, "rotation_trick")])
def test_the_rotation_switch_rejects_what_is_not_a_bool(config, field):
    with pytest.raises(ValueError, match=f"{config.__name__}.{field} must be True or False"):
        config(**{field: "yes"})


def test_the_rotation_trick_keeps_a_zero_vector_finite():
    z = torch.zeros(2, 3, requires_grad=True)
    out = rotate_to(z, torch.ones(2, 3))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(z.grad).all()


# ---- SimVQ -------------------------------------------------------------------------------------------------------

def _simvq_pair(rotation_trick: bool, num_codes: int = 16, dim: int = 8):
    """vqlib's SimVQ holding exactly the peer's basis and map."""
    from vector_quantize_pytorch import SimVQ as PeerSimVQ

    torch.manual_seed(3)
    peer = PeerSimVQ(dim=dim, codebook_size=num_codes, rotation_trick=rotation_trick,
                     input_to_quantize_commit_loss_weight=0.25)
    ours = SimVQ(num_codes, dim, beta=0.25, rotation_trick=rotation_trick)
    ours.basis.copy_(peer.frozen_codebook)
    with torch.no_grad():
        ours.code_transform.weight.copy_(peer.code_transform.weight)
    return ours, peer


@pytest.mark.parametrize("rotation_trick", [False, True])
def test_simvq_matches_the_peers_codes_loss_and_gradients(rotation_trick):
    ours, peer = _simvq_pair(rotation_trick)
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(64, 8, generator=gen)
    upstream = torch.randn(64, 8, generator=gen)
    x_ours, x_peer = z.clone().requires_grad_(), z.clone().requires_grad_()
    out = ours(x_ours)
    quantized, indices, loss = peer(x_peer.unsqueeze(0))
    assert torch.equal(out.indices, indices.squeeze(0))
    torch.testing.assert_close(out.quantized, quantized.squeeze(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss, loss, rtol=1e-5, atol=1e-7)
    ((out.quantized * upstream).sum() + out.loss).backward()
    ((quantized.squeeze(0) * upstream).sum() + loss).backward()
    torch.testing.assert_close(x_ours.grad, x_peer.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours.code_transform.weight.grad, peer.code_transform.weight.grad, rtol=1e-4, atol=1e-6)


def test_simvq_losses_by_hand():
    """Basis e1, e2 and the identity map: z = (1, 0.5) takes code e1; codebook term ||sg(z) - c||^2 / d =
    0.25 / 2, commitment the same value, the loss 0.125 + 0.25 * 0.125."""
    layer = SimVQ(2, 2)
    layer.basis.copy_(torch.eye(2))
    with torch.no_grad():
        layer.code_transform.weight.copy_(torch.eye(2))
    out = layer(torch.tensor([[1.0, 0.5]]))
    assert out.indices.tolist() == [0] and out.quantized.tolist() == [[1.0, 0.0]]
    assert float(out.codebook_loss) == pytest.approx(0.125) and float(out.commitment_loss) == pytest.approx(0.125)
    assert float(out.loss.detach()) == pytest.approx(0.125 + 0.25 * 0.125)


def test_one_step_of_simvq_moves_every_code_even_the_unused():
    torch.manual_seed(5)
    layer = SimVQ(32, 4)
    z = torch.randn(8, 4) * 0.1 + 2.0  # one small cluster: few codes are used
    before = layer.codes().clone()
    out = layer(z)
    used = set(out.indices.tolist())
    assert len(used) < 32
    out.loss.backward()
    with torch.no_grad():
        layer.code_transform.weight -= 0.5 * layer.code_transform.weight.grad
    moved = (layer.codes() - before).norm(dim=1) > 1e-6
    assert bool(moved.all()), f"{int((~moved).sum())} codes did not move"


def test_simvq_initializes_its_map_by_least_squares():
    torch.manual_seed(6)
    layer = SimVQ(3, 4)  # K <= d: every codebook is reachable
    target = torch.randn(3, 4)
    layer.initialize(target)
    torch.testing.assert_close(layer.codes(), target, rtol=1e-4, atol=1e-5)
    wide = SimVQ(64, 4)  # K > d: the closest reachable codes
    codes = wide.basis @ torch.randn(4, 4)
    wide.initialize(codes)
    torch.testing.assert_close(wide.codes(), codes, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        layer.initialize(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="non-finite"):
        layer.initialize(torch.full((3, 4), float("nan")))


def test_simvq_rejects_bad_options_and_widths():
    with pytest.raises(ValueError, match=r"SimVQConfig.beta must be a number in \[0, inf\)"):
        SimVQConfig(beta=-1.0)
    with pytest.raises(ValueError, match="SimVQConfig.rotation_trick must be True or False"):
        SimVQConfig(rotation_trick=1)
    with pytest.raises(ValueError, match=r"expects \[N, 4\] inputs"):
        SimVQ(8, 4)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="num_codes"):
        SimVQ(0, 4)
    out = SimVQ(8, 4)(torch.full((2, 4), float("nan")))  # a non-finite input gives a non-finite loss: the
    assert not torch.isfinite(out.loss)  # trainer stops there, naming it (no statistics to corrupt)


def test_simvq_trains_in_the_normal_loop_early_and_deferred():
    """Early: its own initialization (codebook_init='own', the frozen basis); deferred: k-means at the switch,
    fitted by least squares. Both through ModelSpec(quantizer='simvq')."""
    from vqlib.experiments import MixtureSpec, TrainSpec, run

    data = MixtureSpec(num_components=4, points_per_component=50, dim=3)
    model = ModelSpec(num_codes=8, latent_dim=4, quantizer="simvq", quantizer_options=SimVQConfig())
    for train in (TrainSpec(steps=12, batch_size=32, eval_every=6, codebook_init="own"),
                  TrainSpec(steps=12, batch_size=32, eval_every=6, quantize_from=6, init_samples=100,
                            kmeans_iters=3)):
        result = run(RunSpec(data, model, train), cache=False, progress=False)
        assert result.history["utilization"].notna().any() and math.isfinite(result.final["recon_mse"])


# ---- CVQ-VAE's online clustered codebook -------------------------------------------------------------------------

def _cvq(codes, **options):
    layer = VectorQuantizer(len(codes), len(codes[0]), online_clustering=True, **options)
    layer.initialize(torch.tensor(codes, dtype=torch.float32))
    return layer


def test_online_clustering_pulls_an_unused_code_to_its_closest_embedding_by_hand():
    """Codes at 0 and 10, tokens at 1 and 2: code 0 takes both (share after one step 0.01, rate
    exp(-0.01 * 2 * 10 / 0.01 - 0.001) = exp(-20.001), it stays), code 1 none (share 0, rate exp(-0.001)): it moves
    to 10 (1 - r) + 2 r with 2 its closest token."""
    layer = _cvq([[0.0], [10.0]])
    layer.train()(torch.tensor([[1.0], [2.0]]))
    rate = math.exp(-0.001)
    assert layer.usage_share.tolist() == pytest.approx([0.01, 0.0])
    assert layer.codebook[1, 0].item() == pytest.approx(10 * (1 - rate) + 2 * rate, rel=1e-6)
    assert layer.codebook[0, 0].item() == pytest.approx(math.exp(-20.001) * 1.0, abs=1e-8)  # 0 pulled to 1, barely


def test_online_rates_vanish_for_codes_in_fair_use():
    layer = _cvq([[0.0, 0.0]] * 4)
    layer.usage_share.copy_(torch.tensor([0.25, 0.25, 1e-6, 0.0]))
    rates = layer.online_rates()
    assert rates[0] == 0.0 and rates[1] == 0.0  # exp(-1000): a fair share never moves
    assert rates[2].item() == pytest.approx(math.exp(-4e-3 - 1e-3))
    assert rates[3].item() == pytest.approx(math.exp(-1e-3))


def test_online_clustering_keeps_used_codes_and_follows_with_ema():
    """With EMA the moving averages follow the moved codes, so the next EMA step keeps them there."""
    torch.manual_seed(7)
    layer = _cvq([[0.0, 0.0], [0.1, 0.0], [50.0, 50.0]], ema=True)
    z = torch.randn(64, 2) * 0.3
    for _ in range(5):
        layer.train()(z)
    assert layer.codebook[2].norm() < 5.0  # the far, unused code came to the data
    torch.testing.assert_close(layer.embed_sum, layer.codebook.detach() * layer.cluster_size.unsqueeze(1))


def test_online_clustering_restarts_its_shares_at_initialize_and_skips_non_finite_batches():
    layer = _cvq([[0.0], [10.0]])
    layer.train()(torch.tensor([[1.0], [2.0]]))
    before = layer.codebook.detach().clone()
    layer.train()(torch.tensor([[float("nan")], [2.0]]))
    assert torch.equal(layer.codebook.detach(), before)
    layer.initialize(torch.tensor([[0.0], [10.0]]))
    assert layer.usage_share.tolist() == [0.0, 0.0]
    assert "usage_share" not in VectorQuantizer(2, 1).state_dict()  # layers without the switch: as before


def test_online_clustering_trains_in_the_normal_loop():
    from vqlib.experiments import MixtureSpec, TrainSpec, run

    data = MixtureSpec(num_components=4, points_per_component=50, dim=3)
    model = ModelSpec(num_codes=8, latent_dim=4, ema=False, quantizer_options=VQConfig(online_clustering=True))
    assert model.quantizer_config().online_clustering and not model.quantizer_config().ema
    result = run(RunSpec(data, model, TrainSpec(steps=12, batch_size=32, eval_every=6, init_samples=100,
                                                kmeans_iters=3)), cache=False, progress=False)
    assert math.isfinite(result.final["recon_mse"]) and result.final["utilization"] > 0


# ---- FSQ ---------------------------------------------------------------------------------------------------------

def test_fsq_rounds_to_the_grid_point_nearest_its_bounded_coordinates():
    """levels (3, 3) over 2-D vectors (no projection): each coordinate is tanh-bounded to about [-1, 1] and
    rounded to -1, 0 or 1; the code is the nearest of the 9 grid points, and the metrics read it as a codebook."""
    layer = FSQuantizer(9, 2, levels=(3, 3))
    assert layer.codes().shape == (9, 2) and set(layer.codes().flatten().tolist()) == {-1.0, 0.0, 1.0}
    z = torch.tensor([[0.0, 0.0], [5.0, -5.0], [0.3, 2.0]])
    out = layer(z)
    grid = layer.codes()
    assert grid[out.indices].tolist() == [[0.0, 0.0], [1.0, -1.0], [0.0, 1.0]]
    assert out.quantized.tolist() == grid[out.indices].tolist()  # no projection: the decoder gets the grid point
    assert torch.equal(out.indices, nearest_code(layer.embed(z), grid)[0])
    assert float(out.loss) == 0.0  # no loss of its own


def test_fsq_with_a_projection_agrees_with_its_grid_on_random_vectors():
    torch.manual_seed(8)
    layer = FSQuantizer(256, 8)  # levels (4, 4, 4, 4) after a learned projection 8 -> 4
    z = torch.randn(1000, 8) * 2
    out = layer(z)
    assert layer.code_dim == 4 and out.quantized.shape == (1000, 8)
    assert torch.equal(out.indices, nearest_code(layer.embed(z), layer.codes())[0])
    x = z.clone().requires_grad_()
    layer(x).quantized.sum().backward()  # straight-through rounding: the encoder gets a gradient
    assert x.grad.abs().sum() > 0


def test_fsq_checks_its_levels_against_the_codebook_size_and_refuses_an_initializer():
    with pytest.raises(ValueError, match=r"levels \(4, 4, 4, 4\) make 256 codes, but the codebook size K is 64"):
        ModelSpec(num_codes=64, latent_dim=8, quantizer="fsq", quantizer_options=FSQConfig())
    with pytest.raises(ValueError, match="FSQConfig.levels must be a non-empty tuple of integers >= 3"):
        FSQConfig(levels=(2, 4))
    with pytest.raises(ValueError, match="FSQConfig.levels"):
        FSQConfig(levels=[4, 4])
    with pytest.raises(ValueError, match="no codebook to initialize"):
        FSQuantizer(9, 2, levels=(3, 3)).initialize(torch.zeros(9, 2))
    from vqlib.experiments import MixtureSpec, TrainSpec

    model = ModelSpec(num_codes=256, latent_dim=8, quantizer="fsq", quantizer_options=FSQConfig())
    with pytest.raises(ValueError, match=r"codebook_init='kmeans' does not fit quantizer 'fsq'.*one of \['own'\]"):
        RunSpec(MixtureSpec(), model, TrainSpec(codebook_init="kmeans"))


def test_fsq_trains_in_the_normal_loop_early_and_deferred():
    from vqlib.experiments import MixtureSpec, TrainSpec, run

    data = MixtureSpec(num_components=4, points_per_component=50, dim=3)
    model = ModelSpec(num_codes=27, latent_dim=4, quantizer="fsq", quantizer_options=FSQConfig(levels=(3, 3, 3)))
    for quantize_from in (0, 6):
        train = TrainSpec(steps=12, batch_size=32, eval_every=6, codebook_init="own", quantize_from=quantize_from)
        result = run(RunSpec(data, model, train), cache=False, progress=False)
        assert math.isfinite(result.final["recon_mse"]) and 0 < result.final["utilization"] <= 1


# ---- diagnose on every remedy's layer ----------------------------------------------------------------------------

@pytest.mark.parametrize("make, says", [
    (lambda: SimVQ(16, 4), "codes: basis through its learned map"),
    (lambda: FSQuantizer(81, 6, levels=(3, 3, 3, 3)), "implicit grid, levels (3, 3, 3, 3)"),
    (lambda: VectorQuantizer(16, 4, online_clustering=True, rotation_trick=True), "vqlib VectorQuantizer"),
])
def test_diagnose_reads_each_remedys_effective_codebook(make, says):
    from vqlib.diagnose import diagnose

    torch.manual_seed(9)
    layer = make().eval()
    inputs = torch.randn(600, layer.dim)
    report = diagnose(inputs, layer, sample_size=200)
    assert says in report.description
    assert report.values["num_codes"] == layer.num_codes and report.values["dim"] == layer.code_dim
    used = int((report.counts > 0).sum())
    assert used == len(set(layer(inputs).indices.tolist()))  # the codes it counts are the ones the layer picks


def test_each_codes_closest_row_is_the_same_in_chunks_as_at_once():
    """Online clustering's anchors: nearest_code with the codes as queries."""
    def _closest_rows(codes, rows, chunk_size):
        return nearest_code(codes, rows, chunk_size)[0]

    gen = torch.Generator().manual_seed(10)
    codes, rows = torch.randn(16, 3, generator=gen), torch.randn(100, 3, generator=gen)
    brute = torch.cdist(codes, rows).argmin(dim=1)
    assert torch.equal(_closest_rows(codes, rows, chunk_size=7), brute)
    assert torch.equal(_closest_rows(codes, rows, chunk_size=1000), brute)
