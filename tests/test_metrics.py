import math

import pytest
import torch

from vqlib import metrics as m


def test_uniform_usage_has_perplexity_k_and_full_utilization():
    p = m.code_usage(torch.arange(64) % 16, 16)
    assert m.perplexity(p) == pytest.approx(16.0)
    assert m.utilization(p) == 1.0
    assert m.dead_codes(p) == 0


def test_single_used_code_has_perplexity_one():
    p = m.code_usage(torch.full((100,), 3), 10)
    assert m.perplexity(p) == pytest.approx(1.0)
    assert m.utilization(p) == pytest.approx(0.1)
    assert m.dead_codes(p) == 9


def test_perplexity_of_a_hand_computed_distribution():
    # p = (1/2, 1/4, 1/4, 0): H = 1.5 log 2, perplexity = 2^1.5
    p = m.code_usage(torch.tensor([0, 0, 1, 2]), 4)
    assert m.perplexity(p) == pytest.approx(2 ** 1.5)
    assert m.utilization(p) == 0.75


def test_usage_rejects_out_of_range_indices_and_bad_distributions():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        m.code_usage(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="sum"):
        m.perplexity(torch.tensor([0.5, 0.2]))


def test_effective_rank_of_identity_is_its_size_and_rank_one_set_is_one():
    assert m.effective_rank(torch.eye(7), center=False) == pytest.approx(7.0)
    # centred: the symmetric set {+e_i, -e_i} is isotropic in d dimensions
    eye = torch.eye(5)
    assert m.effective_rank(torch.cat([eye, -eye])) == pytest.approx(5.0)
    line = torch.randn(50, 1) * torch.tensor([[1.0, 2.0, -3.0]])
    assert m.effective_rank(line) == pytest.approx(1.0)
    assert m.effective_rank(torch.ones(10, 3)) == 0.0


def test_components_for_variance():
    x = torch.zeros(4, 3)
    x[0, 0], x[1, 0] = 10.0, -10.0  # variance 200 along axis 0
    x[2, 1], x[3, 1] = 1.0, -1.0  # variance 2 along axis 1 (about 1 % of the total)
    assert m.components_for_variance(x, 0.99) == 1
    assert m.components_for_variance(x, 0.999) == 2
    eye = torch.eye(4)
    assert m.components_for_variance(torch.cat([eye, -eye]), 0.99) == 4


def test_pairwise_cosine_distance_hand_cases():
    # orthogonal pairs: cos = 0 -> distance 1; opposite: distance 2; identical: 0
    assert m.mean_pairwise_cosine_distance(torch.eye(3)) == pytest.approx(1.0)
    assert m.mean_pairwise_cosine_distance(torch.tensor([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(2.0)
    assert m.mean_pairwise_cosine_distance(torch.tensor([[1.0, 1.0]] * 4)) == pytest.approx(0.0)
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    u = torch.nn.functional.normalize(x, dim=1)
    cos = u @ u.T
    brute = (1 - cos)[~torch.eye(30, dtype=bool)].mean()
    assert m.mean_pairwise_cosine_distance(x) == pytest.approx(float(brute), abs=1e-6)


def test_pairwise_euclidean_distance():
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # 4 sides of length 1 and 2 diagonals of sqrt(2), each pair counted once: (4 + 2 sqrt 2) / 6
    assert m.mean_pairwise_euclidean_distance(square) == pytest.approx((4 + 2 * math.sqrt(2)) / 6)
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    exact = m.mean_pairwise_euclidean_distance(x, max_points=None, chunk_size=7)
    brute = torch.cdist(x.double(), x.double()).sum() / (300 * 299)
    assert exact == pytest.approx(float(brute))


def test_set_metrics_need_two_points():
    with pytest.raises(ValueError, match="M >= 2"):
        m.mean_pairwise_euclidean_distance(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="M >= 2"):
        m.effective_rank(torch.zeros(1, 3))


def test_quantization_error():
    emb = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    codes = torch.tensor([[0.0, 1.0], [3.0, 4.0]])
    assert m.quantization_error(emb, codes) == pytest.approx(0.5)


def test_component_coverage_counts_components_that_own_a_code():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert m.component_coverage(torch.tensor([5, 5, 7, 7, 9, 9]), labels, 3) == 1.0
    # one code serves components 0 and 1 (majority 0): component 1 owns nothing
    assert m.component_coverage(torch.tensor([5, 5, 5, 3, 9, 9]), torch.tensor([0, 0, 1, 0, 2, 2]), 3) == (
        pytest.approx(2 / 3))
    assert m.component_coverage(torch.zeros(6, dtype=torch.long), labels, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="same length"):
        m.component_coverage(torch.zeros(3), labels, 3)


def test_reconstruction_coverage():
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[0.1, 0.0], [0.0, 0.2], [9.0, 0.0], [10.5, 0.0]])
    assert m.reconstruction_coverage(good, labels, means) == 1.0
    lost = torch.tensor([[0.1, 0.0], [0.0, 0.2], [1.0, 0.0], [2.0, 0.0]])  # mode 1 pulled into mode 0
    assert m.reconstruction_coverage(lost, labels, means) == 0.5


def test_shrinkage_ratios():
    emb = torch.randn(400, 3, generator=torch.Generator().manual_seed(0))
    out = m.shrinkage(emb * 0.1, emb)
    assert out["shrinkage_euclidean"] == pytest.approx(0.1, rel=1e-6)
    assert out["shrinkage_cosine"] == pytest.approx(m.mean_pairwise_cosine_distance(emb * 0.1)
                                                    / m.mean_pairwise_cosine_distance(emb))
    assert out["shrinkage_rank"] == pytest.approx(1.0)


def test_codebook_metrics_on_a_known_assignment():
    codes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    emb = torch.tensor([[0.0, 0.5], [0.5, 0.0], [10.0, 0.5], [0.0, 9.5]])
    labels = torch.tensor([0, 0, 1, 2])
    out = m.codebook_metrics(emb, codes, labels, 3)
    assert out["utilization"] == 0.75
    assert out["dead_codes"] == 1
    assert out["perplexity"] == pytest.approx(math.exp(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))))
    assert out["quantization_error"] == pytest.approx(0.25)
    assert out["coverage"] == 1.0


def test_pca_basis_finds_the_main_axis_with_a_fixed_sign():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=gen) * torch.tensor([5.0, 1.0, 0.1]) + torch.tensor([1.0, 2.0, 3.0])
    mean, directions = m.pca_basis(x, 2)
    assert torch.allclose(mean, x.mean(0), atol=1e-5)
    assert abs(float(directions[0, 0])) > 0.99 and float(directions[0, 0]) > 0
    coords = m.project(x, (mean, directions))
    assert coords.shape == (500, 2)
    assert float(coords[:, 0].std()) == pytest.approx(float(x[:, 0].std()), rel=0.02)
    mean_flip, directions_flip = m.pca_basis(-x, 2)
    assert float(directions_flip[0, 0]) > 0  # same sign convention for the mirrored set


# ---------------------------------------------------------------------------------------------------------
# Streaming statistics


@pytest.mark.parametrize("rows, dim", [(5000, 8), (700, 3), (2048, 5), (3, 2)])
def test_streaming_stats_equal_the_whole_set_functions(rows, dim):
    from vqlib.metrics import StreamingStats, embedding_metrics

    gen = torch.Generator().manual_seed(rows)
    scales = torch.logspace(0, -3, dim)  # a spread of variances: small singular values matter too
    x = (torch.randn(rows, dim, generator=gen) * scales + 3.0).float()
    stream = StreamingStats(rows, dim)
    for chunk in torch.split(x, 333):  # uneven batches
        stream.update(chunk)
    got, exact = stream.result(), embedding_metrics(x)
    assert got.keys() == exact.keys()
    assert got["embedding_euclidean_distance"] == exact["embedding_euclidean_distance"]  # the same sample
    assert got["embedding_components_99"] == exact["embedding_components_99"]
    for key in ("embedding_cosine_distance", "embedding_effective_rank", "embedding_std"):
        assert got[key] == pytest.approx(exact[key], rel=1e-10, abs=1e-12), key


def test_streaming_stats_degenerate_sets_and_misuse():
    from vqlib.metrics import StreamingStats

    same = torch.ones(10, 4)
    stream = StreamingStats(10, 4)
    stream.update(same[:6])
    stream.update(same[6:])
    got = stream.result()
    assert got["embedding_effective_rank"] == 0.0 and got["embedding_components_99"] == 0
    assert got["embedding_std"] == 0.0 and got["embedding_euclidean_distance"] == 0.0
    with pytest.raises(ValueError, match="announced"):
        StreamingStats(3, 4).update(same[:5])
    short = StreamingStats(10, 4)
    short.update(same[:3])
    with pytest.raises(ValueError, match="saw 3 of 10"):
        short.result()
    with pytest.raises(ValueError, match=r"rows \[m, 4\]"):
        StreamingStats(10, 4).update(torch.ones(2, 3))


def test_streaming_stats_without_a_row_count_keep_a_sample_independent_of_the_batches():
    from vqlib.metrics import StreamingStats, embedding_metrics

    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1000, 5, generator=gen) * torch.tensor([3.0, 1.0, 0.5, 0.1, 0.01]) + 2.0

    def streamed(sizes, max_points=100, seed=0):
        stats = StreamingStats(None, 5, max_points=max_points, seed=seed)
        for chunk in x.split(sizes):
            stats.update(chunk)
        return stats

    a, b = streamed(1000), streamed([7, 300, 1, 500, 192])
    assert a.sample_rows().shape == (100, 5)
    assert torch.equal(a.sample_rows(), b.sample_rows())  # the same rows whatever the batch sizes
    ra, rb = a.result(), b.result()
    assert ra["embedding_euclidean_distance"] == rb["embedding_euclidean_distance"]  # the same sample
    for key in ra:
        assert ra[key] == pytest.approx(rb[key], rel=1e-12), key
    positions = [int((x.double() == row).all(1).nonzero()) for row in a.sample_rows()]
    assert positions == sorted(positions) and len(set(positions)) == 100  # rows of the set, in their order
    assert not torch.equal(streamed(1000, seed=1).sample_rows(), a.sample_rows())
    # with every row kept, the sample is the set and the Euclidean spread the exact one
    whole = streamed(333, max_points=5000)
    assert torch.equal(whole.sample_rows(), x.double())
    exact = embedding_metrics(x)
    assert whole.result()["embedding_euclidean_distance"] == m.mean_pairwise_euclidean_distance(x, max_points=None)
    for key in ("embedding_cosine_distance", "embedding_effective_rank", "embedding_std"):
        assert whole.result()[key] == pytest.approx(exact[key], rel=1e-10), key
    assert whole.result()["embedding_components_99"] == exact["embedding_components_99"]


def test_streaming_stats_give_the_mean_and_the_spectrum_of_the_rows():
    from vqlib.metrics import StreamingStats

    gen = torch.Generator().manual_seed(8)
    x = (torch.randn(500, 4, generator=gen) * torch.tensor([2.0, 1.0, 0.5, 0.25]) + 10.0).double()
    for total in (500, None):
        stats = StreamingStats(total, 4)
        for chunk in x.split(123):
            stats.update(chunk)
        assert torch.allclose(stats.mean, x.mean(0), rtol=1e-12)
        squared = torch.linalg.svdvals(x - x.mean(0)).pow(2)  # largest first, like the spectrum
        assert torch.allclose(stats.spectrum(), squared, rtol=1e-9)
        assert stats.spectrum().device.type == "cpu" and stats.spectrum().dtype == torch.float64


def test_streaming_stats_without_a_row_count_need_a_bounded_sample_and_two_rows():
    from vqlib.metrics import StreamingStats

    with pytest.raises(ValueError, match="max_points >= 1"):
        StreamingStats(None, 3, max_points=None)
    one = StreamingStats(None, 3)
    one.update(torch.ones(1, 3))
    with pytest.raises(ValueError, match="saw 1 rows"):
        one.result()
    with pytest.raises(ValueError, match="saw 1 rows"):
        one.spectrum()
