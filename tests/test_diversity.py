import math

import pytest
import torch

from vqlib import diversity as dv

pytestmark = pytest.mark.usefixtures("one_thread")


def test_token_measures_on_hand_computed_maps():
    tokens = torch.tensor([[[0, 0], [1, 1]]])
    assert dv.token_histogram_entropy(tokens, 4) == pytest.approx(math.log(2))
    assert dv.token_histogram_entropy(torch.full((3, 2, 2), 2), 4) == pytest.approx(0.0)
    maps = torch.tensor([[[0, 1], [2, 2]], [[3, 3], [3, 3]], [[0, 1], [2, 2]]])
    assert dv.distinct_codes_per_sample(maps) == pytest.approx((3 + 1 + 3) / 3)
    assert dv.distinct_map_fraction(maps) == pytest.approx(2 / 3)
    assert dv.distinct_map_fraction(torch.full((5, 2, 2), 1)) == pytest.approx(1 / 5)
    d = dv.token_diversity(maps, 4)
    assert d["token_perplexity"] == pytest.approx(math.exp(d["token_entropy"]))


def test_pixel_distance_hand_computed_and_scales():
    # three 1x1x2 "images" in [-1, 1]: on 0..255 they are (0, 0), (255, 0), (0, 255)
    x = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]).reshape(3, 1, 1, 2)
    expected = (255 + 255 + 255 * math.sqrt(2)) / 3
    assert dv.mean_pairwise_pixel_distance(x) == pytest.approx(expected)
    assert dv.mean_pairwise_pixel_distance(x, scale="0-1") == pytest.approx(expected / 255)
    assert dv.mean_pairwise_pixel_distance(x, scale="raw") == pytest.approx(expected * 2 / 255)
    as_uint8 = ((x + 1) * 127.5).round().to(torch.uint8)
    assert dv.mean_pairwise_pixel_distance(as_uint8) == pytest.approx(expected)
    repeated = torch.rand(1, 3, 4, 4).expand(6, 3, 4, 4) * 2 - 1
    assert dv.mean_pairwise_pixel_distance(repeated) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_zero_for_identical_and_mean_shift_for_equal_covariances():
    a = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert dv.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = torch.tensor([3.0, 0.0, -4.0, 0.0])  # ||shift||^2 = 25, covariances equal
    assert dv.frechet_distance(a, a + shift) == pytest.approx(25.0, abs=1e-6)
    # 1-D hand computation: var_a = 1, var_b = 4 (unbiased), means 0 and 1: 1 + 1 + 4 - 2*2 = 2
    fa = torch.tensor([[-1.0], [1.0], [0.0]])
    fb = torch.tensor([[-2.0], [2.0], [0.0]]) + 1.0
    assert dv.frechet_distance(fa, fb) == pytest.approx(2.0)


def test_precision_recall_identical_and_disjoint_sets():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(40, 3, generator=gen)
    assert dv.precision_recall(real, real.clone(), k=3) == {"precision": 1.0, "recall": 1.0}
    far = real + 100.0
    assert dv.precision_recall(real, far, k=3) == {"precision": 0.0, "recall": 0.0}
    # the fake set covers only half of a two-cluster real set: precision 1, recall 1/2
    two = torch.cat([torch.randn(20, 2, generator=gen), torch.randn(20, 2, generator=gen) + 50.0])
    half = torch.randn(20, 2, generator=gen) * 0.3
    pr = dv.precision_recall(two, half, k=3)
    assert pr["precision"] == 1.0 and pr["recall"] <= 0.5


def test_vendi_score_orthogonal_and_identical():
    assert dv.vendi_score(torch.eye(5)) == pytest.approx(5.0)
    assert dv.vendi_score(torch.eye(6)[:4] * 3.0) == pytest.approx(4.0)  # n < d path, scale-free
    assert dv.vendi_score(torch.tensor([[1.0, 2.0, 3.0]]).expand(7, 3)) == pytest.approx(1.0)
    # two orthogonal groups of equal size: 2
    x = torch.cat([torch.tensor([[1.0, 0.0]]).expand(5, 2), torch.tensor([[0.0, 2.0]]).expand(5, 2)])
    assert dv.vendi_score(x) == pytest.approx(2.0)


def test_bad_inputs_raise_errors_naming_the_problem():
    with pytest.raises(ValueError, match="integer"):
        dv.token_histogram_entropy(torch.zeros(2, 2, 2), 4)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        dv.token_histogram_entropy(torch.full((1, 2, 2), 4), 4)
    with pytest.raises(ValueError, match="N >= 2"):
        dv.mean_pairwise_pixel_distance(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        dv.mean_pairwise_pixel_distance(torch.full((2, 3, 2, 2), 200.0))
    with pytest.raises(ValueError, match="scale"):
        dv.mean_pairwise_pixel_distance(torch.zeros(2, 3, 2, 2), scale="0-65535")
    with pytest.raises(ValueError, match="feature dimension"):
        dv.frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="k must"):
        dv.precision_recall(torch.randn(5, 2), torch.randn(5, 2), k=0)
    with pytest.raises(ValueError, match="N >= 4"):
        dv.precision_recall(torch.randn(3, 2), torch.randn(5, 2), k=3)
    with pytest.raises(ValueError, match="all-zero"):
        dv.vendi_score(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="kernel"):
        dv.vendi_score(torch.eye(3), kernel="rbf")
    with pytest.raises(ValueError, match="NaN"):
        dv.frechet_distance(torch.full((3, 2), float("nan")), torch.randn(3, 2))


def test_rbf_vendi_counts_clusters_and_needs_a_bandwidth():
    from vqlib.diversity import median_distance, standardize, vendi_score

    gen = torch.Generator().manual_seed(0)
    # three tight, far-apart clusters of 20 points: about 3 effective samples at a small bandwidth
    centres = torch.tensor([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    x = centres.repeat_interleave(20, 0) + 0.01 * torch.randn(60, 2, generator=gen)
    assert vendi_score(x, kernel="rbf", bandwidth=1.0) == pytest.approx(3.0, rel=1e-2)
    assert vendi_score(torch.zeros(5, 3), kernel="rbf", bandwidth=1.0) == pytest.approx(1.0)
    # mutually far points: n
    assert vendi_score(torch.eye(4) * 100, kernel="rbf", bandwidth=1.0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="bandwidth"):
        vendi_score(x, kernel="rbf")
    # standardization uses the reference's statistics; the median distance of 3 collinear points 0, 1, 3
    ref = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    assert torch.allclose(standardize(torch.tensor([[1.0, 5.0]]), ref), torch.tensor([[0.0, 4.0]], dtype=torch.float64))
    assert median_distance(torch.tensor([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)
