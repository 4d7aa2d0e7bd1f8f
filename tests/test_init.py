import pytest
import torch

from vqlib.init import kmeans, make_codebook, matched_normal, random_normal, sample_embeddings, uniform


def test_random_normal_statistics_follow_the_scale():
    gen = torch.Generator().manual_seed(0)
    codes = random_normal(4096, 16, scale=0.01, generator=gen)
    assert codes.shape == (4096, 16)
    assert abs(float(codes.mean())) < 1e-3
    assert float(codes.std()) == pytest.approx(0.01, rel=0.02)


def test_uniform_is_within_one_over_k_and_spread():
    codes = uniform(512, 8, generator=torch.Generator().manual_seed(0))
    assert float(codes.abs().max()) <= 1 / 512
    # U(-a, a) has standard deviation a / sqrt(3)
    assert float(codes.std()) == pytest.approx((1 / 512) / 3 ** 0.5, rel=0.03)


def test_sample_embeddings_picks_distinct_rows_when_possible():
    emb = torch.arange(20.0).reshape(10, 2)
    codes = sample_embeddings(emb, 10, generator=torch.Generator().manual_seed(0))
    assert sorted(codes[:, 0].tolist()) == emb[:, 0].tolist()  # a permutation: every row once
    many = sample_embeddings(emb, 25, generator=torch.Generator().manual_seed(0))
    assert many.shape == (25, 2)
    assert all(any(torch.equal(c, e) for e in emb) for c in many)


def test_kmeans_recovers_separated_cluster_centres():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0]])
    data = centres.repeat_interleave(300, 0) + 0.2 * torch.randn(900, 2, generator=gen)
    found = kmeans(data, 3, iters=15, generator=torch.Generator().manual_seed(3))
    # each true centre has a found centroid within 0.1 (the cluster means of 300 points of std 0.2)
    dist = torch.cdist(centres, found)
    assert float(dist.min(1).values.max()) < 0.1
    assert sorted(dist.argmin(1).tolist()) == [0, 1, 2]


def test_kmeans_keeps_every_centroid_in_the_data_when_clusters_empty():
    data = torch.zeros(50, 3)
    data[25:] = 1.0  # only two distinct points, K = 6
    found = kmeans(data, 6, iters=5, generator=torch.Generator().manual_seed(0))
    assert found.shape == (6, 3)
    assert all(torch.equal(c, data[0]) or torch.equal(c, data[-1]) for c in found)


def test_same_generator_seed_gives_the_same_codebook():
    emb = torch.randn(500, 4, generator=torch.Generator().manual_seed(1))
    a = make_codebook("kmeans", 16, 4, embeddings=emb, generator=torch.Generator().manual_seed(7))
    b = make_codebook("kmeans", 16, 4, embeddings=emb, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_k_below_one_or_fractional_is_rejected(bad):
    with pytest.raises(ValueError, match="num_codes"):
        random_normal(bad, 4)
    with pytest.raises(ValueError, match="num_codes"):
        kmeans(torch.randn(10, 4), bad)


def test_make_codebook_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown codebook initializer 'gauss'.*kmeans"):
        make_codebook("gauss", 4, 2)
    with pytest.raises(ValueError, match="needs embeddings"):
        make_codebook("kmeans", 4, 2)
    with pytest.raises(ValueError, match="dimension 3"):
        make_codebook("sample", 4, 2, embeddings=torch.zeros(10, 3))
    with pytest.raises(ValueError, match="scale"):
        make_codebook("normal", 4, 2, scale=0.0)


def test_matched_normal_has_the_embeddings_mean_and_covariance():
    gen = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.0, 0.0, 0.1]])
    embeddings = torch.randn(5000, 3, generator=gen) @ mixing.T + torch.tensor([3.0, -1.0, 0.5])
    codes = matched_normal(embeddings, 20000, generator=torch.Generator().manual_seed(1))
    assert codes.shape == (20000, 3) and codes.dtype == torch.float32
    assert torch.allclose(codes.mean(0), embeddings.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(codes.T), torch.cov(embeddings.T), atol=0.08)
    # random codes, not embeddings: none of them is one of the rows
    assert not (torch.cdist(codes[:100], embeddings).min(dim=1).values < 1e-6).any()


def test_matched_normal_is_deterministic_and_works_on_a_degenerate_cloud():
    flat = torch.zeros(10, 4)
    flat[:, 0] = torch.arange(10.0)  # spread along one axis only: a singular covariance
    a = matched_normal(flat, 8, generator=torch.Generator().manual_seed(3))
    b = make_codebook("matched_normal", 8, 4, embeddings=flat, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert torch.allclose(a[:, 1:], torch.zeros(8, 3), atol=1e-5)  # no spread where the embeddings have none
    with pytest.raises(ValueError, match="needs embeddings"):
        make_codebook("matched_normal", 8, 4)
