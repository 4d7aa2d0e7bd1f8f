import pytest
import torch

from vqlib.init import kmeans
from vqlib.quantize import VectorQuantizer, nearest_code


def test_nearest_code_matches_brute_force_and_chunking():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 7, generator=gen)
    codebook = torch.randn(50, 7, generator=gen)
    brute = torch.cdist(z, codebook).pow(2)
    idx, dist = nearest_code(z, codebook, chunk_size=64)  # many chunks, a ragged last one
    assert torch.equal(idx, brute.argmin(1))
    assert torch.allclose(dist, brute.min(1).values, atol=1e-4)
    idx_one_chunk, _ = nearest_code(z, codebook, chunk_size=10_000)
    assert torch.equal(idx, idx_one_chunk)


def test_nearest_code_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="codebook"):
        nearest_code(torch.zeros(3, 4), torch.zeros(5, 3))


def test_forward_values_are_the_nearest_codes():
    vq = VectorQuantizer(4, 2)
    vq.initialize(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    z = torch.tensor([[0.1, 0.1], [0.9, 0.2], [4.0, 4.5], [-0.1, 0.8]])
    out = vq.eval()(z)
    assert out.indices.tolist() == [0, 1, 3, 2]
    assert torch.allclose(out.quantized, vq.codebook[out.indices])
    # commitment = mean squared distance to the chosen codes
    expected = (z - vq.codebook[out.indices]).pow(2).mean()
    assert torch.allclose(out.commitment_loss, expected)
    assert torch.allclose(out.loss, 0.25 * expected + expected)  # beta * commitment + codebook term


def test_straight_through_gradient_and_each_loss_term_moves_only_its_own_side():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(3, 2)
    vq = VectorQuantizer(5, 2, beta=0.25)
    x = torch.randn(16, 3)

    # Straight-through: a loss on the quantized output sends gradient d(loss)/dz_q unchanged to z.
    z = encoder(x)
    z.retain_grad()
    out = vq(z)
    out.quantized.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0

    # The library's codebook term alone (beta = 0 leaves loss = codebook loss) moves the codebook, with the
    # gradient of ||sg(z) - e||^2, and nothing upstream.
    vq = VectorQuantizer(5, 2, beta=0.0)
    vq.initialize(torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))
    encoder.zero_grad()
    z = encoder(x)
    out = vq(z)
    out.loss.backward()
    assert encoder.weight.grad is None or encoder.weight.grad.abs().sum() == 0
    codes = vq.codebook.detach()[out.indices]
    expected = torch.zeros_like(vq.codebook).index_add_(0, out.indices, 2 * (codes - z.detach()) / z.numel())
    assert torch.allclose(vq.codebook.grad, expected, atol=1e-6)

    # The library's commitment term (with EMA there is no codebook loss, so loss = beta * commitment) moves
    # the encoder with the gradient of beta ||z - sg(e)||^2 and never the codebook.
    vq = VectorQuantizer(5, 2, beta=0.25, ema=True)
    vq.initialize(torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))
    encoder.zero_grad()
    z = encoder(x)
    z.retain_grad()
    out = vq.eval()(z)  # evaluation mode: no EMA update between the lookup and the check below
    out.loss.backward()
    assert not vq.codebook.requires_grad and vq.codebook.grad is None
    codes = vq.codebook.detach()[out.indices]
    assert torch.allclose(z.grad, 0.25 * 2 * (z.detach() - codes) / z.numel(), atol=1e-6)
    assert encoder.weight.grad.abs().sum() > 0


def test_only_used_codes_receive_codebook_gradient():
    vq = VectorQuantizer(3, 2)
    vq.initialize(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, -10.0]]))
    out = vq(torch.tensor([[0.5, 0.5], [0.2, 0.1]]))
    out.loss.backward()
    assert vq.codebook.grad[0].abs().sum() > 0
    assert vq.codebook.grad[1:].abs().sum() == 0


def test_inactive_layer_passes_embeddings_through():
    vq = VectorQuantizer(8, 4, active=False)
    z = torch.randn(10, 4, requires_grad=True)
    out = vq(z)
    assert out.quantized is z and out.indices is None and float(out.loss) == 0.0


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="num_codes"):
        VectorQuantizer(0, 4)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizer(4, 4, decay=1.0)
    with pytest.raises(ValueError, match="code_dim"):
        VectorQuantizer(4, 4, code_dim=8)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        VectorQuantizer(4, 4)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="shape"):
        VectorQuantizer(4, 4).initialize(torch.zeros(3, 4))


def test_ema_update_moves_codes_to_the_mean_of_their_vectors():
    vq = VectorQuantizer(2, 2, ema=True, decay=0.0, eps=0.0)
    vq.initialize(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    z = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]])
    vq.train()(z)
    assert torch.allclose(vq.codebook, torch.tensor([[2.0, 1.0], [9.0, 9.0]]))
    assert not vq.codebook.requires_grad


def test_usage_does_not_collapse_one_step_after_kmeans_init_with_ema():
    # Four well-separated clusters, k-means with K = 8 (two codes per cluster), then one EMA step on a
    # batch of 4 vectors, so that most codes receive nothing this step. Every code must still be in use and
    # sit where k-means put it (restarting the EMA sums at zero would drag the unselected codes to 0).
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    data = centres.repeat_interleave(200, 0) + 0.5 * torch.randn(800, 2, generator=gen)
    vq = VectorQuantizer(8, 2, ema=True, decay=0.99)
    vq.initialize(kmeans(data, 8, iters=10, generator=gen))
    assert torch.unique(vq.eval()(data).indices).numel() == 8
    before = vq.codebook.detach().clone()
    vq.train()(data[torch.randperm(800, generator=gen)[:4]])
    assert torch.unique(vq.eval()(data).indices).numel() == 8
    assert (vq.codebook - before).norm(dim=1).max() < 0.5


def test_dead_code_is_replaced_and_survives_the_next_ema_update():
    torch.manual_seed(0)
    vq = VectorQuantizer(3, 2, ema=True, decay=0.5, dead_code_threshold=0.6)
    vq.initialize(torch.tensor([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0]]))  # code 2 is far from the data
    batch = torch.tensor([[0.0, 0.1], [1.0, 0.9], [0.1, 0.0], [0.9, 1.0]])
    vq.train()(batch)
    # code 2 received nothing: its moving count fell to 0.5 < 0.6, so it was replaced by a batch vector in
    # this very step (and not overwritten by the EMA update of the same step).
    assert int(vq.replaced_codes) == 1
    revived = vq.codebook[2].detach().clone()
    assert any(torch.allclose(revived, b) for b in batch)
    # The next EMA update, with a batch served by code 1 only, must leave the revived code where it was put
    # (stale EMA sums would pull it back towards (100, 100)).
    vq.dead_code_threshold = 0.0  # observe the EMA update alone
    vq(torch.tensor([[1.0, 1.0]]))
    assert torch.allclose(vq.codebook[2], revived, atol=1e-3)


def test_cosine_codes_are_unit_length_and_low_dim_lookup_projects():
    vq = VectorQuantizer(6, 8, cosine=True, code_dim=3)
    out = vq(torch.randn(20, 8))
    assert out.quantized.shape == (20, 8)
    assert torch.allclose(vq.codes().norm(dim=1), torch.ones(6))
    assert torch.allclose(vq.embed(torch.randn(5, 8)).norm(dim=1), torch.ones(5))


def test_vq_arithmetic_stays_float32_for_bf16_inputs():
    vq = VectorQuantizer(16, 4).eval()
    z = torch.randn(32, 4)
    out = vq(z.bfloat16())
    assert out.quantized.dtype == torch.bfloat16
    # Same codes as the float32 lookup of the bf16-rounded inputs (the lookup itself is float32).
    assert torch.equal(out.indices, vq(z.bfloat16().float()).indices)


def test_vq_arithmetic_stays_float32_under_bf16_autocast():
    """On CUDA the encoder and decoder run under bf16 autocast (vqlib.accel); the lookup, statistics and losses
    must not: distances in bf16 lose codes. CPU autocast exercises the same switch."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(512, 16, generator=gen)
    plain = VectorQuantizer(256, 16, ema=True)
    plain.initialize(torch.randn(256, 16, generator=gen))
    autocast = VectorQuantizer(256, 16, ema=True)
    autocast.initialize(plain.codebook.detach().clone())
    expected = plain(z)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        got = autocast(z)
    assert torch.equal(got.indices, expected.indices)
    assert torch.equal(autocast.codebook, plain.codebook) and autocast.codebook.dtype == torch.float32
    assert got.loss.dtype == torch.float32 and got.loss == expected.loss


def test_nonfinite_inputs_leave_the_statistics_alone():
    gen = torch.Generator().manual_seed(0)
    vq = VectorQuantizer(8, 4, ema=True, dead_code_threshold=0.5)
    vq.initialize(torch.randn(8, 4, generator=gen))
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    z = torch.randn(32, 4, generator=gen)
    z[3, 1] = float("nan")
    z[7, 0] = float("inf")
    vq(z)
    after = vq.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "a non-finite batch changed the statistics"
    assert int(vq.nonfinite_batches) == 1
    vq(torch.randn(32, 4, generator=gen))  # a finite batch updates them again
    assert not torch.equal(vq.cluster_size, before["cluster_size"]) and torch.isfinite(vq.codebook).all()
