import pytest
import torch

from vqlib.features import FEATURE_DIM, SmallCNN, accuracy, cached_classifier, extract_features, train_classifier

pytestmark = pytest.mark.usefixtures("one_thread")


def _red_vs_blue(n_per_class=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(2 * n_per_class, 3, 32, 32, generator=gen) * 0.6 - 0.3
    labels = torch.arange(2).repeat_interleave(n_per_class)
    images = noise.clone()
    images[labels == 0, 0] += 0.6  # red
    images[labels == 1, 2] += 0.6  # blue
    return images.clamp(-1, 1), labels


def test_classifier_learns_red_vs_blue_and_features_have_the_right_shape():
    images, labels = _red_vs_blue()
    model, history = train_classifier(images, labels, steps=20, batch_size=16, seed=0, eval_every=10)
    assert list(history["step"]) == [10, 20]
    assert not model.training
    assert accuracy(model, images, labels) >= 0.95
    feats = extract_features(model, images, batch_size=50)
    assert feats.shape == (128, FEATURE_DIM) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all()


def test_cached_classifier_returns_identical_weights(isolated_dirs):
    images, labels = _red_vs_blue(8)
    m1, h1, c1 = cached_classifier(images, labels, steps=2, seed=0, batch_size=8)
    m2, h2, c2 = cached_classifier(images, labels, steps=2, seed=0, batch_size=8)
    assert (c1, c2) == (False, True)
    assert list((isolated_dirs / "cache").glob("classifier-*.pt"))
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))
    assert h1.equals(h2)
    assert torch.equal(extract_features(m1, images), extract_features(m2, images))
    _, _, c3 = cached_classifier(images, labels, steps=2, seed=1, batch_size=8)
    assert not c3
    assert not cached_classifier(images.flip(-1), labels, steps=2, seed=0, batch_size=8)[2]  # other pixels


def test_bad_inputs_raise():
    images, labels = _red_vs_blue(4)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(images, labels[:-1], steps=1)
    with pytest.raises(ValueError, match=r"\[0, num_classes=2\)"):
        train_classifier(images, labels + 1, steps=1, num_classes=2)
    with pytest.raises(ValueError, match="3, H, W"):
        extract_features(SmallCNN(), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="labels"):
        cached_classifier(images, labels.float(), steps=1)
