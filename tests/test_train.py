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
        seen["encoder_state"] = {k: v.clone() for k, v in model.encoder.state_dict().items()}
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
    assert not torch.equal(seen["encoder_state"]["0.weight"], initial_weight)
    # init_samples distinct training points went through *that* encoder: every embedding k-means saw is the
    # switch-time encoder's output for some training point, and they are all different points
    encoder_at_switch = _model().encoder
    encoder_at_switch.load_state_dict(seen["encoder_state"])
    with torch.no_grad():
        outputs = encoder_at_switch(data.train)
    distance = torch.cdist(seen["embeddings"], outputs, compute_mode="donot_use_mm_for_euclid_dist")
    assert seen["embeddings"].shape == (100, 4)
    assert float(distance.min(1).values.max()) < 1e-5
    assert distance.argmin(1).unique().numel() == 100
    # 'sample' initialization: every code is one of the embeddings the trainer computed at the switch
    assert all(any(torch.equal(c, e) for e in seen["embeddings"]) for c in seen["codebook"])


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


def test_image_runs_train_on_random_crops_and_count_switch_rows_after_cropping(monkeypatch):
    """Images stored with a margin: the model only ever sees crops of the training size, and k-means at the
    switch gets init_samples rows of *cropped* inputs (uncropped 20 px images would give 25 rows each)."""
    from vqlib import train as train_module
    from vqlib.data import ImageSpec, Prepared
    from vqlib.experiments import ModelSpec, build_model

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(12, 3, 20, 20, generator=gen) * 2 - 1
    data = Prepared(images, images[:4, :, 2:18, 2:18], "random images", "test", crop=16)
    torch.manual_seed(0)
    model = build_model(ModelSpec(kind="conv", num_codes=8, latent_dim=4, channels=8, num_res_blocks=0,
                                  num_downsamples=2), ImageSpec("imagenet", resolution=16))
    shapes, seen = set(), {}
    model.register_forward_pre_hook(lambda module, args: shapes.add(tuple(args[0].shape[-2:])))
    real_make = train_module.make_codebook

    def spy(name, k, d, *, embeddings=None, **kw):
        seen["rows"] = embeddings.shape[0]
        return real_make(name, k, d, embeddings=embeddings, **kw)

    monkeypatch.setattr(train_module, "make_codebook", spy)
    train(model, data, TrainSpec(steps=4, batch_size=4, quantize_from=2, eval_every=2, init_samples=64), seed=0)
    assert shapes == {(16, 16)}  # training batches and every evaluation: 16 x 16, never the stored 20 x 20
    assert seen["rows"] == 64  # 4 cropped inputs x 16 tokens; counting uncropped rows gave 3 x 16 = 48
