import dataclasses

import numpy as np
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


def test_quantize_from_steps_trains_a_continuous_autoencoder():
    data = load(DATA)
    history = train(_model(), data, TrainSpec(steps=20, batch_size=32, eval_every=10, quantize_from=20), seed=0)
    assert list(history.step) == [0, 10, 20] and not history.quantized.any()
    assert "utilization" not in history or history.utilization.isna().all()  # no codes were ever looked up
    assert history.recon_mse.iloc[-1] < history.recon_mse.iloc[0]  # it learned
    assert history.embedding_components_99.notna().all()  # what the diagnosis calibrates against


def test_bad_train_specs_name_the_parameter():
    with pytest.raises(ValueError, match="quantize_from"):
        TrainSpec(steps=10, quantize_from=11)
    with pytest.raises(ValueError, match="quantize_from"):
        TrainSpec(steps=10, quantize_from=-1)
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


# ---------------------------------------------------------------------------------------------------------
# Streaming evaluation, checkpoints, non-finite values


def _exact_evaluate(model, data, batch_size=1024):
    """The evaluation as it was before it streamed: every embedding at once, whole-set functions."""
    from vqlib import metrics
    from vqlib.train import encode_all

    rows, recon, errors, _ = encode_all(model, data.eval, batch_size)
    out = {"recon_mse": float(errors.double().mean())}
    stats = metrics.embedding_metrics(rows)
    out.update(stats)
    vq = model.quantizer
    if vq.active:
        labels = data.eval_labels if data.means is not None else None
        lookup = vq.embed(rows).cpu()
        same = torch.equal(lookup, rows)
        out.update(metrics.codebook_metrics(lookup, vq.codes().cpu(), labels, data.num_components,
                                            stats if same else None))
    if data.means is not None:
        out["reconstruction_coverage"] = metrics.reconstruction_coverage(recon, data.eval_labels, data.means)
    return out


def _assert_same_metrics(got, exact):
    assert got.keys() == exact.keys()
    for key, value in exact.items():
        if isinstance(value, int) or key in ("utilization", "perplexity", "coverage", "reconstruction_coverage",
                                             "embedding_euclidean_distance", "code_euclidean_distance"):
            assert got[key] == value or (value != value and got[key] != got[key]), key  # equal (NaN == NaN)
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("cosine", [False, True])
def test_streaming_evaluation_equals_the_exact_one_on_the_default_mixture(cosine):
    """The default scale's mixture evaluation set (10 x 1,000 points in D = 8), after some training."""
    from vqlib.studies import context, settings
    from vqlib.train import evaluate

    base = settings.mixture_base(context("default"))
    data = load(base.data)
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(base.model, cosine=cosine), base.data)
    train(model, data, TrainSpec(steps=30, batch_size=256, eval_every=30), seed=0)
    assert data.num_eval == 10_000
    _assert_same_metrics(evaluate(model, data), _exact_evaluate(model, data))


def test_streaming_evaluation_equals_the_exact_one_on_a_default_sized_image_set(one_thread):
    """500 evaluation images of 32 x 32 (CIFAR-10 at the default scale: 32,000 token rows, so the Euclidean
    spread is over a sample), through the default CIFAR-10 tokenizer."""
    from vqlib.data import ImageSpec, Prepared
    from vqlib.studies import settings
    from vqlib.train import evaluate

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (600, 32, 32, 3), dtype=np.uint8)
    data = Prepared(pixels[:100], pixels[100:], "random pixels", "test")
    torch.manual_seed(0)
    model = build_model(settings.CIFAR_MODEL, ImageSpec())
    train(model, data, TrainSpec(steps=3, batch_size=16, eval_every=3, init_samples=512), seed=0)
    assert model.quantizer.active
    _assert_same_metrics(evaluate(model, data, 256), _exact_evaluate(model, data, 256))


def test_nonfinite_loss_stops_training_with_the_step_and_the_run():
    data = load(DATA)
    model = _model()
    calls = []

    def poison(module, args, output):
        calls.append(1)
        return output * float("nan") if len(calls) == 15 and module.training else output

    model.encoder.register_forward_hook(poison)
    spec = TrainSpec(steps=40, batch_size=32, quantize_from=5, eval_every=100)
    with pytest.raises(FloatingPointError, match=r"run 'my run'.*nan at step \d+.*checkpoint: none"):
        train(model, data, spec, seed=0, description="my run")
    vq = model.quantizer
    assert torch.isfinite(vq.codebook).all() and torch.isfinite(vq.embed_sum).all()
    assert torch.isfinite(vq.cluster_size).all() and int(vq.nonfinite_batches) == 1


class _Stop(Exception):
    pass


def test_resume_from_a_checkpoint_gives_the_uninterrupted_history(tmp_path, monkeypatch):
    """Images with random crops, a quantization switch and dead-code replacement: stopped at step 13 and
    resumed from the checkpoint, the history equals an uninterrupted run's to the last digit."""
    from vqlib.data import ImageSpec, Prepared
    from vqlib.experiments import ModelSpec, build_model

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 20, 20, 3), dtype=np.uint8)
    data = Prepared(pixels, pixels[:8, 2:18, 2:18], "random images", "test", crop=16)
    model_spec = ModelSpec(kind="conv", num_codes=16, latent_dim=4, channels=8, num_res_blocks=0,
                           num_downsamples=2, dead_code_threshold=0.5)
    spec = TrainSpec(steps=24, batch_size=8, quantize_from=6, eval_every=5, init_samples=64)

    def fresh():
        torch.manual_seed(0)
        return build_model(model_spec, ImageSpec("imagenet", resolution=16))

    whole = train(fresh(), data, spec, seed=3)
    path = tmp_path / "run.ckpt"
    monkeypatch.setenv("VQLIB_CHECKPOINT_EVERY", "0")  # after every step
    from vqlib import train as train_module

    real_save = train_module._save_checkpoint

    def save_then_stop(path_, spec_, seed_, device_, step, *args):
        real_save(path_, spec_, seed_, device_, step, *args)
        if step == 13:
            raise _Stop

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_stop)
    with pytest.raises(_Stop):
        train(fresh(), data, spec, seed=3, checkpoint=path)
    assert path.exists()
    monkeypatch.setattr(train_module, "_save_checkpoint", real_save)
    resumed = train(fresh(), data, spec, seed=3, checkpoint=path)
    assert int(resumed.quantized.sum()) > 0
    pd.testing.assert_frame_equal(resumed.drop(columns="wall_time"), whole.drop(columns="wall_time"), check_exact=True)
    # a checkpoint of another spec is not resumed from
    with pytest.warns(UserWarning, match="another training spec"):
        train(fresh(), data, dataclasses.replace(spec, lr=2e-3), seed=3, checkpoint=path)


def test_checkpoint_interval_setting(monkeypatch):
    from vqlib.train import checkpoint_interval

    monkeypatch.setenv("VQLIB_CHECKPOINT_EVERY", "12.5")
    assert checkpoint_interval() == 12.5
    monkeypatch.setenv("VQLIB_CHECKPOINT_EVERY", "soon")
    with pytest.raises(ValueError, match="VQLIB_CHECKPOINT_EVERY"):
        checkpoint_interval()
