"""Data specs as tensors: class-balanced subsets, content identities, where data is read from."""

import numpy as np
import pytest
import torch
from PIL import Image

from vqlib.data import ImageSpec, MixtureSpec, forget_prepared, load, prepare
from vqlib.image_folder import load_image_folder
from vqlib.imageset import DataSourceError


def _folder(root, classes=("a", "b", "c", "d"), per_class=5, size=12, seed=0):
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / "val" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            pixels[0, 0] = (label, i, 0)  # a fingerprint of class and position
            Image.fromarray(pixels).save(root / "val" / name / f"{i:02d}.png")
    return root


def test_image_folder_subsets_span_every_class(tmp_path):
    root = _folder(tmp_path / "folder")
    ds = load_image_folder(root, "val")
    assert ds.labels.tolist() == [0, 1, 2, 3] * 5  # the 1st of every class, then the 2nd, ...
    assert ds.images[:, 0, 0, :2].tolist() == [[c, i] for i in range(5) for c in range(4)]
    data = load(ImageSpec("imagenet", resolution=12, train_images=None, eval_images=4, root=str(root)))
    assert sorted(data.eval_labels.tolist()) == [0, 1, 2, 3]  # four images, four classes (not four of "a")


def test_image_spec_crops_training_batches_and_centres_evaluation(tmp_path):
    root = _folder(tmp_path / "folder", size=10)
    data = load(ImageSpec("imagenet", resolution=8, eval_images=4, crop_margin=2, root=str(root)))
    assert data.train.shape == (20, 3, 10, 10) and data.eval.shape == (4, 3, 8, 8)
    assert torch.equal(data.eval, data.train[:4, :, 1:9, 1:9])  # only a val split: train on it, evaluate centred
    batch = data.crop_for_training(data.train[:6], torch.Generator().manual_seed(0))
    assert batch.shape == (6, 3, 8, 8)


def test_identity_is_the_content_not_the_location(tmp_path):
    one = load(ImageSpec("imagenet", resolution=12, root=str(_folder(tmp_path / "one"))))
    two = load(ImageSpec("imagenet", resolution=12, root=str(_folder(tmp_path / "two"))))
    other = load(ImageSpec("imagenet", resolution=12, root=str(_folder(tmp_path / "three", seed=1))))
    assert one.identity == two.identity != other.identity
    fewer = load(ImageSpec("imagenet", resolution=12, eval_images=8, root=str(_folder(tmp_path / "one"))))
    assert fewer.identity != one.identity
    mix = load(MixtureSpec(num_components=2, points_per_component=5))
    assert mix.identity == load(MixtureSpec(num_components=2, points_per_component=5)).identity
    assert mix.identity != load(MixtureSpec(num_components=2, points_per_component=5, seed=1)).identity


def test_prepare_follows_the_data_location_and_never_serves_stale_data(tmp_path, monkeypatch):
    forget_prepared()
    spec = ImageSpec("imagenet", resolution=12)
    monkeypatch.setenv("VQLIB_IMAGENET", str(_folder(tmp_path / "one")))
    first = prepare(spec)
    assert prepare(spec) is first  # loaded once per process
    monkeypatch.setenv("VQLIB_IMAGENET", str(_folder(tmp_path / "two", seed=3)))
    assert prepare(spec).identity != first.identity  # the variable moved: new data, not the cached copy
    explicit = prepare(ImageSpec("imagenet", resolution=12, root=str(tmp_path / "one")))
    assert explicit.identity == first.identity
    monkeypatch.delenv("VQLIB_IMAGENET")
    with pytest.raises(DataSourceError, match="VQLIB_IMAGENET"):
        prepare(spec)
    forget_prepared()


def test_bad_image_specs_name_the_parameter():
    with pytest.raises(ValueError, match="resolution"):
        ImageSpec(resolution=4)
    with pytest.raises(ValueError, match="crop_margin"):
        ImageSpec(crop_margin=-1)
    with pytest.raises(ValueError, match="train_images"):
        ImageSpec(train_images=1.5)
    with pytest.raises(ValueError, match="CIFAR-10 is 32x32"):
        load(ImageSpec("cifar10", resolution=64, root="/nonexistent"))


def test_image_batches_are_made_from_uint8_pixels_like_whole_tensors(tmp_path):
    """Batches gathered from the (memory-mapped) uint8 pixels equal cropping the whole float tensor."""
    root = _folder(tmp_path / "folder", size=10)
    data = load(ImageSpec("imagenet", resolution=8, eval_images=6, crop_margin=2, root=str(root)))
    assert isinstance(data.train_data, np.ndarray) and data.train_data.dtype == np.uint8
    index = torch.tensor([3, 0, 7, 7, 19])
    batch = data.train_batch(index, torch.Generator().manual_seed(5), "cpu")
    expected = data.crop_for_training(data.train[index], torch.Generator().manual_seed(5))
    assert batch.dtype == torch.float32 and torch.equal(batch, expected)
    evaluation = torch.cat(list(data.eval_batches(4, "cpu")))
    assert torch.equal(evaluation, data.eval) and data.num_eval == 6 and data.num_train == 20


def test_image_folder_cache_is_memory_mapped(tmp_path):
    root = _folder(tmp_path / "folder")
    load_image_folder(root, "val", cache_dir=tmp_path / "cache")
    again = load_image_folder(root, "val", cache_dir=tmp_path / "cache")
    assert isinstance(again.images.base, np.memmap) or isinstance(again.images, np.memmap)
    assert not again.images.flags.writeable


def test_class_subset(tmp_path):
    root = _folder(tmp_path / "folder")
    ds = load_image_folder(root, "val", classes=["d", "b"])
    assert ds.classes == ("b", "d") and ds.labels.tolist() == [0, 1] * 5
    assert ds.images[:, 0, 0, 0].tolist() == [1, 3] * 5  # the class fingerprints of b and d
    with pytest.raises(DataSourceError, match="does not have.*'x'"):
        load_image_folder(root, "val", classes=["a", "x"])
    spec = ImageSpec("imagenet", resolution=12, eval_images=None, classes=["d", "b"], root=str(root))
    assert spec.classes == ("b", "d") and load(spec).num_eval == 10
    with pytest.raises(ValueError, match="classes"):
        ImageSpec("cifar10", classes=["cat"])
    with pytest.raises(ValueError, match="classes"):
        ImageSpec("imagenet", classes="n01440764")


def test_class_list_file(tmp_path):
    from vqlib.images import read_class_list

    path = tmp_path / "classes.txt"
    path.write_text("# ImageNet-100\nn01440764\n\n n01443537  # goldfish\n")
    assert read_class_list(path) == ("n01440764", "n01443537")
    path.write_text("# nothing\n")
    with pytest.raises(DataSourceError, match="names no classes"):
        read_class_list(path)
    with pytest.raises(DataSourceError, match="Cannot read"):
        read_class_list(tmp_path / "missing.txt")


def test_new_spec_fields_keep_old_cache_keys():
    """``classes`` came after runs were cached: at its 'absent' value it is left out of the key payload."""
    from vqlib.cache import spec_payload

    assert "classes" not in spec_payload(ImageSpec())
    assert spec_payload(ImageSpec("imagenet", classes=["b", "a"]))["classes"] == ["a", "b"]


def test_imagenet_class_list_comes_from_the_study_context_made_at_the_edge(tmp_path, monkeypatch):
    from vqlib.scales import get_scale
    from vqlib.studies import Context, context, settings

    path = tmp_path / "imagenet100.txt"
    path.write_text("n02\nn01\n")
    monkeypatch.delenv("VQLIB_IMAGENET_CLASSES", raising=False)
    assert settings.imagenet(context("smoke", imagenet_classes=path)).classes == ("n01", "n02")
    assert settings.imagenet(context("smoke")).classes is None
    monkeypatch.setenv("VQLIB_IMAGENET_CLASSES", str(path))
    assert settings.imagenet(context("smoke")).classes == ("n01", "n02")  # context() reads it, once, at the edge
    assert settings.imagenet(Context(get_scale("smoke"))).classes is None  # a spec builder never reads it


def test_a_mixture_can_set_its_closest_means_an_exact_number_of_stds_apart():
    from vqlib.data import make_gaussian_mixture

    for dim in (2, 8, 32):
        mix = make_gaussian_mixture(10, 5, dim, std=0.05, nearest_ratio=3.0, seed=1)
        assert float(torch.pdist(mix.means.double()).min()) == pytest.approx(0.15, rel=1e-5)
    for bad in (0.0, -2.0, float("inf")):
        with pytest.raises(ValueError, match="nearest_ratio"):
            make_gaussian_mixture(10, 5, 2, nearest_ratio=bad)
