import pandas as pd
import pytest
import torch

from vqlib.data import MixtureSpec, load, make_gaussian_mixture
from vqlib.experiments import ModelSpec, build_model
from vqlib.train import TrainSpec, train

DATA = MixtureSpec(num_components=4, points_per_component=50, dim=3)


def _model(**kw):
    torch.manual_seed(0)
    return build_model(ModelSpec(num_codes=8, latent_dim=4, **kw), DATA)


def test_gaussian_mixture_has_the_requested_components():
    mix = make_gaussian_mixture(5, 200, dim=3, separation=2.0, std=0.1, seed=1)
    assert mix.points.shape == (1000, 3) and mix.means.shape == (5, 3)
    assert torch.bincount(mix.labels).tolist() == [200] * 5
    assert float(torch.pdist(mix.means).min()) >= 0.6  # 6 std apart
    for c in range(5):
        pts = mix.points[mix.labels == c]
        assert torch.allclose(pts.mean(0), mix.means[c], atol=0.03)
        assert float(pts.std(0).mean()) == pytest.approx(0.1, rel=0.15)
    assert torch.equal(make_gaussian_mixture(5, 200, 3, 2.0, 0.1, seed=1).points, mix.points)
    with pytest.raises(ValueError, match="num_components"):
        make_gaussian_mixture(0)
    with pytest.raises(ValueError, match="cannot place"):
        make_gaussian_mixture(50, 10, dim=1, separation=1.0, std=0.1)


def test_nothing_is_quantized_before_the_switch_and_codebook_comes_from_embeddings_at_it(monkeypatch):
    data = load(DATA)
    model = _model()
    seen = {}
    from vqlib import train as train_module

    real_make = train_module.make_codebook

    def spy(name, k, d, *, embeddings=None, **kw):
        seen["embeddings"] = embeddings.clone()
        seen["quantized_before"] = model.quantizer.active
        seen["encoder_weight"] = model.encoder[0].weight.detach().clone()
        codebook = real_make(name, k, d, embeddings=embeddings, **kw)
        seen["codebook"] = codebook.clone()
        return codebook

    monkeypatch.setattr(train_module, "make_codebook", spy)
    initial_weight = model.encoder[0].weight.detach().clone()
    history = train(model, data, TrainSpec(steps=40, batch_size=64, quantize_from=20, codebook_init="sample",
                                           eval_every=10, init_samples=100), seed=0)
    # before the switch: continuous, no codes; at and after it: quantized
    before = history[history.step < 20]
    assert not before.quantized.any() and before.utilization.isna().all()
    after = history[history.step >= 20]
    assert after.quantized.all() and after.utilization.notna().all()
    assert seen["quantized_before"] is False
    # the encoder had trained for 20 steps when the codebook was built from its embeddings
    assert not torch.equal(seen["encoder_weight"], initial_weight)
    # 'sample' initialization: every code is one of the embeddings the trainer computed at the switch
    assert all(any(torch.equal(c, e) for e in seen["embeddings"]) for c in seen["codebook"])
    with torch.no_grad():
        current = model.encode(data.train[:5])
    assert current.shape == (5, 4)


def test_early_quantization_quantizes_from_step_zero():
    data = load(DATA)
    history = train(_model(), data, TrainSpec(steps=20, batch_size=32, eval_every=10), seed=0)
    assert history.quantized.all()
    assert history.step.tolist() == [0, 10, 20]
    expected = {"recon_mse", "utilization", "perplexity", "dead_codes", "code_cosine_distance",
                "code_euclidean_distance", "code_effective_rank", "code_components_99", "embedding_effective_rank",
                "embedding_components_99", "shrinkage_euclidean", "shrinkage_cosine", "shrinkage_rank",
                "quantization_error", "coverage", "reconstruction_coverage", "loss", "wall_time"}
    assert expected <= set(history.columns)


def test_training_reduces_reconstruction_error():
    data = load(DATA)
    history = train(_model(), data, TrainSpec(steps=300, batch_size=64, eval_every=150), seed=0)
    assert history.recon_mse.iloc[-1] < 0.5 * history.recon_mse.iloc[0]


def test_same_seed_gives_identical_history_and_other_seed_differs():
    data = load(DATA)
    spec = TrainSpec(steps=30, batch_size=32, eval_every=10, quantize_from=10)
    a = train(_model(), data, spec, seed=3).drop(columns="wall_time")
    b = train(_model(), data, spec, seed=3).drop(columns="wall_time")
    pd.testing.assert_frame_equal(a, b)
    c = train(_model(), data, spec, seed=4).drop(columns="wall_time")
    assert not a.loss.equals(c.loss)


def test_bad_train_specs_name_the_parameter():
    with pytest.raises(ValueError, match="quantize_from"):
        TrainSpec(steps=10, quantize_from=10)
    with pytest.raises(ValueError, match="codebook_init.*kmeans"):
        TrainSpec(codebook_init="zeros")
    with pytest.raises(ValueError, match="steps"):
        TrainSpec(steps=0)
    with pytest.raises(ValueError, match="num_codes"):
        ModelSpec(num_codes=0)
    with pytest.raises(ValueError, match="kind"):
        ModelSpec(kind="transformer")
