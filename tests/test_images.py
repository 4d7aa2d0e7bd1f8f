"""Tests for the image readers (vqlib.images chooses the source; vqlib.cifar10 reads the official archive,
vqlib.image_folder ImageFolder trees, vqlib.imageset caches decoded arrays) on tiny fixtures built in tmp_path
(no network, nothing written to the repo)."""

from __future__ import annotations

import ast
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from vqlib import cifar10, imageset, pixels
from vqlib import image_folder as vf
from vqlib import images as vi
from vqlib.imageset import DataSourceError

N_PER_BATCH = 4


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Point every default path at tmp_path and make any download attempt fail instantly."""
    monkeypatch.setenv("VQLIB_DATA", str(tmp_path / "vqdata"))
    monkeypatch.delenv("VQLIB_CIFAR10", raising=False)
    monkeypatch.delenv("VQLIB_IMAGENET", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


# ---------------------------------------------------------------------------------------------------------
# Fixture builders


def _batches(seed: int = 0) -> dict[str, dict]:
    """Official-format batch dicts: b"data" uint8 (N, 3072) as R, G, B planes, b"labels" a list."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    out = {}
    for name in names:
        out[name] = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, size=(N_PER_BATCH, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=N_PER_BATCH)],
            b"filenames": [f"{name}_{i}.png".encode() for i in range(N_PER_BATCH)],
        }
    out["batches.meta"] = {
        b"label_names": [c.encode() for c in cifar10.CIFAR10_CLASSES],
        b"num_cases_per_batch": N_PER_BATCH,
        b"num_vis": 3072,
    }
    return out


def _write_archive(path, batches, skip=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in batches.items():
            if name in skip:
                continue
            blob = pickle.dumps(obj, protocol=2)  # the official files are protocol-2 pickles
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _expected(batches, names):
    """Reference conversion written pixel by pixel (independent of the reshape in the module)."""
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([batches[n][b"labels"] for n in names]).astype(np.int64)
    out = np.zeros((len(data), 32, 32, 3), dtype=np.uint8)
    for i in range(len(data)):
        for c in range(3):
            for y in range(32):
                out[i, y, :, c] = data[i, c * 1024 + y * 32 : c * 1024 + y * 32 + 32]
    return out, labels


TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture
def official(tmp_path, monkeypatch):
    """An official-format archive named cifar-10-python.tar.gz whose md5 is accepted."""
    batches = _batches()
    src = tmp_path / "src"
    src.mkdir()
    path = _write_archive(src / cifar10.CIFAR10_ARCHIVE_NAME, batches)
    monkeypatch.setattr(vi, "CIFAR10_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    return path, batches


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def _colour(label: int, index: int) -> tuple[int, int, int]:
    return (10 + 100 * label, 20 + 30 * index, 200 - 50 * index)


@pytest.fixture
def folder(tmp_path):
    """2 classes x 3 solid-colour 5x4 PNGs; class folders created in non-sorted order."""
    root = tmp_path / "folder"
    for label, cls in ((1, "cat"), (0, "ant")):
        for i in range(3):
            _png(root / "val" / cls / f"{i:02d}.png", np.full((4, 5, 3), _colour(label, i)))
    return root


def _counting(monkeypatch, module, name):
    """Wrap module.<name> and count calls."""
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# ---------------------------------------------------------------------------------------------------------
# Official archive


def test_read_archive_exact_pixels(official):
    path, batches = official
    out = cifar10.read_cifar10_archive(path)
    assert set(out) == {"train", "test"}
    for split, names in (("train", TRAIN), ("test", ["test_batch"])):
        images, labels = out[split]
        want_images, want_labels = _expected(batches, names)
        assert images.shape == (len(names) * N_PER_BATCH, 32, 32, 3)
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
    # Spot-check the plane order explicitly: R is the first 1024 bytes, G the next, B the last.
    first = batches["data_batch_1"][b"data"][0]
    assert tuple(out["train"][0][0, 0, 1]) == (first[1], first[1024 + 1], first[2048 + 1])


@pytest.mark.parametrize("form", ["tarball", "directory", "extracted"])
def test_load_cifar10_from_root(official, tmp_path, form):
    path, batches = official
    if form == "tarball":
        root = path
    elif form == "directory":
        root = path.parent
    else:
        root = tmp_path / "extracted"
        with tarfile.open(path) as tar:
            tar.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # < 3.11.4: none
    data_dir = tmp_path / "d"
    ds = vi.load_cifar10("test", root=root, data_dir=data_dir)
    want_images, want_labels = _expected(batches, ["test_batch"])
    np.testing.assert_array_equal(ds.images, want_images)
    np.testing.assert_array_equal(ds.labels, want_labels)
    assert ds.classes == cifar10.CIFAR10_CLASSES
    assert "root argument" in ds.source
    assert ("md5 verified" in ds.source) == (form != "extracted")
    train = vi.load_cifar10("train", root=root, data_dir=data_dir, limit=6)
    np.testing.assert_array_equal(train.images, _expected(batches, TRAIN)[0][:6])
    assert len(train) == 6


def test_official_archive_in_data_dir_md5(official, tmp_path, monkeypatch):
    path, batches = official
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    (data_dir / cifar10.CIFAR10_ARCHIVE_NAME).write_bytes(path.read_bytes())
    ds = vi.load_cifar10("test", data_dir=data_dir)
    assert "official python release" in ds.source and "md5 verified" in ds.source
    np.testing.assert_array_equal(ds.labels, _expected(batches, ["test_batch"])[1])

    monkeypatch.setattr(vi, "CIFAR10_MD5", "c58f30108f718f92721af3b95e74349a")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / cifar10.CIFAR10_ARCHIVE_NAME).write_bytes(path.read_bytes())
    with pytest.raises(DataSourceError, match="md5") as err:
        vi.load_cifar10("test", data_dir=fresh)
    assert str(fresh / cifar10.CIFAR10_ARCHIVE_NAME) in str(err.value)
    assert "c58f30108f718f92721af3b95e74349a" in str(err.value) and "delete" in str(err.value)


def test_corrupt_archive(tmp_path):
    good = _write_archive(tmp_path / "good.tar.gz", _batches()).read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataSourceError, match="truncated.tar.gz"):
        cifar10.read_cifar10_archive(truncated)
    with pytest.raises(DataSourceError, match="truncated.tar.gz"):
        vi.load_cifar10("train", root=truncated, data_dir=tmp_path / "d")
    incomplete = _write_archive(tmp_path / "incomplete.tar.gz", _batches(), skip={"data_batch_3"})
    with pytest.raises(DataSourceError, match="data_batch_3"):
        cifar10.read_cifar10_archive(incomplete)


def test_archive_refuses_foreign_pickles(tmp_path):
    batches = _batches()
    batches["test_batch"] = {b"data": pathlib_payload(), b"labels": []}
    path = _write_archive(tmp_path / "evil.tar.gz", batches)
    with pytest.raises(DataSourceError, match="refusing to unpickle"):
        cifar10.read_cifar10_archive(path)


def pathlib_payload():
    import pathlib  # any non-numpy class stands in for a malicious payload

    return pathlib.PurePosixPath("/tmp")


# ---------------------------------------------------------------------------------------------------------
# ImageFolder


def test_image_folder_exact_pixels(folder):
    ds = vf.load_image_folder(folder, split="val")
    assert ds.classes == ("ant", "cat")
    np.testing.assert_array_equal(ds.labels, [0, 1, 0, 1, 0, 1])  # class-interleaved
    assert ds.images.shape == (6, 4, 5, 3) and ds.images.dtype == np.uint8
    for k, (label, i) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]):
        assert (ds.images[k] == np.array(_colour(label, i), dtype=np.uint8)).all()
    assert str(folder / "val") in ds.source
    # split=None reads <root>/<class>/* directly.
    assert vf.load_image_folder(folder / "val").classes == ("ant", "cat")


def test_image_folder_resize_and_centre_crop(tmp_path):
    root = tmp_path / "rs"
    stripes = np.zeros((4, 12, 3), dtype=np.uint8)  # 12 wide x 4 high: red | green | blue columns
    stripes[:, :4] = (255, 0, 0)
    stripes[:, 4:8] = (0, 255, 0)
    stripes[:, 8:] = (0, 0, 255)
    _png(root / "a" / "wide.png", stripes)
    _png(root / "b" / "tall.png", np.full((16, 8, 3), 77))
    ds = vf.load_image_folder(root, resolution=4)
    assert ds.images.shape == (2, 4, 4, 3)
    # Shorter side already 4: only the centre crop applies, leaving exactly the green middle.
    assert (ds.images[0] == (0, 255, 0)).all()
    assert (ds.images[1] == 77).all()
    assert vf.load_image_folder(root, resolution=3).images.shape == (2, 3, 3, 3)


def test_image_folder_mixed_sizes_need_resolution(tmp_path):
    root = tmp_path / "mixed"
    _png(root / "a" / "0.png", np.zeros((4, 4, 3)))
    _png(root / "a" / "1.png", np.zeros((5, 4, 3)))
    with pytest.raises(DataSourceError, match="resolution"):
        vf.load_image_folder(root)


def test_image_folder_errors(tmp_path, folder):
    with pytest.raises(DataSourceError, match="nowhere"):
        vf.load_image_folder(tmp_path / "nowhere")
    with pytest.raises(DataSourceError, match="train"):
        vf.load_image_folder(folder, split="train")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataSourceError, match="No image files"):
        vf.load_image_folder(tmp_path / "empty")
    bad = folder / "val" / "cat" / "zz_broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataSourceError, match="zz_broken.png"):
        vf.load_image_folder(folder, split="val")


def test_an_empty_class_folder_is_refused_before_anything_is_decoded_naming_it_and_the_fix(folder, tmp_path,
                                                                                           monkeypatch):
    """A broken ImageNet-100 copy (an extraction that stopped) looks like this: it must not read as a data set
    without those classes."""
    (folder / "val" / "dog").mkdir()
    (folder / "val" / "emu").mkdir()
    (folder / "val" / "emu" / "README.txt").write_text("not an image")  # no image files: empty too
    decodes = _counting(monkeypatch, vf, "_decode_image")
    with pytest.raises(DataSourceError) as err:
        vf.load_image_folder(folder, split="val", cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert str(folder / "val" / "dog") in message and str(folder / "val" / "emu") in message
    assert str(folder / "val" / "cat") not in message and "2 of the 4 class folder" in message
    assert "Fix: copy or extract the images" in message and "classes=" in message
    assert decodes == [] and not (tmp_path / "cache").exists()  # failed before any work
    with pytest.raises(DataSourceError, match="dog"):  # the same through the ImageNet loader
        vi.load_imagenet(root=folder, resolution=4, cache_dir=tmp_path / "cache")
    # the fix works: with the empty classes left out, the rest reads as before
    assert vf.load_image_folder(folder, split="val", classes=["cat", "ant"]).classes == ("ant", "cat")
    with pytest.raises(DataSourceError, match="emu"):  # a subset that keeps an empty class is refused too
        vf.load_image_folder(folder, split="val", classes=["ant", "emu"])


def _cifar_folder(root, per_class=2, ext="png"):
    for split in ("train", "test"):
        for label, cls in enumerate(cifar10.CIFAR10_CLASSES):
            for i in range(per_class):
                _png(root / split / cls / f"{i:04d}.{ext}", np.full((32, 32, 3), label * 20 + i))
    return root


def test_cifar10_from_image_folder_interleaves_classes(tmp_path, monkeypatch):
    root = _cifar_folder(tmp_path / "cifar")
    monkeypatch.setenv("VQLIB_CIFAR10", str(root))
    ds = vi.load_cifar10("test", data_dir=tmp_path / "d")
    assert ds.images.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(ds.labels, list(range(10)) * 2)
    assert (ds.images[:, 0, 0, 0] == ds.labels * 20 + np.repeat([0, 1], 10)).all()
    assert "ImageFolder" in ds.source and "VQLIB_CIFAR10" in ds.source and str(root) in ds.source
    limited = vi.load_cifar10("test", data_dir=tmp_path / "d", limit=10)
    np.testing.assert_array_equal(limited.labels, range(10))  # balanced prefix, not ten airplanes


# ---------------------------------------------------------------------------------------------------------
# Error paths of load_cifar10


def test_missing_root_names_path_and_origin(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-cifar"
    with pytest.raises(DataSourceError, match="root argument") as err:
        vi.load_cifar10(root=missing, data_dir=tmp_path / "d")
    assert str(missing) in str(err.value)
    monkeypatch.setenv("VQLIB_CIFAR10", str(missing))
    with pytest.raises(DataSourceError, match="VQLIB_CIFAR10") as err:
        vi.load_cifar10(data_dir=tmp_path / "d")
    assert str(missing) in str(err.value)


def test_download_failure_names_fixes(tmp_path, capsys):
    data_dir = tmp_path / "d"
    with pytest.raises(DataSourceError) as err:
        vi.load_cifar10("train", data_dir=data_dir)
    message = str(err.value)
    assert "download" in message and "name resolution" in message
    assert "VQLIB_CIFAR10" in message and "root=" in message and "ImageFolder" in message
    assert "Downloading CIFAR-10 from" in capsys.readouterr().err
    assert list(data_dir.iterdir()) == []  # no partial tarball left behind
    with pytest.raises(DataSourceError, match="download=False"):
        vi.load_cifar10("train", data_dir=data_dir, download=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        vi.load_cifar10("validation")
    with pytest.raises(ValueError, match="limit"):
        vi.load_cifar10("train", limit=-1)


# ---------------------------------------------------------------------------------------------------------
# Cache


def test_second_load_hits_cache(official, tmp_path, monkeypatch):
    path, _ = official
    data_dir = tmp_path / "d"
    first = vi.load_cifar10("train", root=path, data_dir=data_dir)

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(cifar10, "read_cifar10_archive", must_not_decode)
    monkeypatch.setattr(cifar10, "verify_md5", must_not_decode)
    again = vi.load_cifar10("train", root=path, data_dir=data_dir)
    other_split = vi.load_cifar10("test", root=path, data_dir=data_dir)  # cached by the same pass
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.labels, first.labels)
    assert again.source == first.source and len(other_split) == N_PER_BATCH


def test_image_folder_cache(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = vf.load_image_folder(folder, split="val", resolution=2, cache_dir=cache)
    decodes = _counting(monkeypatch, vf, "_decode_image")
    again = vf.load_image_folder(folder, split="val", resolution=2, cache_dir=cache)
    assert decodes == []
    np.testing.assert_array_equal(again.images, first.images)
    assert again.classes == first.classes
    # A different resolution is a different cache entry, so it must decode.
    vf.load_image_folder(folder, split="val", resolution=3, cache_dir=cache)
    assert len(decodes) == 6
    # Adding a file changes the folder's fingerprint, so the stale entry is not used.
    _png(folder / "val" / "ant" / "99.png", np.zeros((4, 5, 3)))
    assert len(vf.load_image_folder(folder, split="val", resolution=2, cache_dir=cache)) == 7


class Interrupted(Exception):
    pass


def test_interrupted_cache_write_is_not_trusted(official, tmp_path, monkeypatch):
    path, batches = official
    data_dir = tmp_path / "d"
    real_save = np.save

    def save_half_then_die(file, arr, **kwargs):
        buf = io.BytesIO()
        real_save(buf, arr, **kwargs)
        file.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise Interrupted("killed mid-write")

    monkeypatch.setattr(np, "save", save_half_then_die)
    with pytest.raises(Interrupted):
        vi.load_cifar10("test", root=path, data_dir=data_dir)
    monkeypatch.setattr(np, "save", real_save)
    assert [p.name for p in (data_dir / "cache").iterdir()] == []  # temp file removed, nothing committed

    decodes = _counting(monkeypatch, cifar10, "read_cifar10_archive")
    ds = vi.load_cifar10("test", root=path, data_dir=data_dir)
    assert len(decodes) == 1
    np.testing.assert_array_equal(ds.images, _expected(batches, ["test_batch"])[0])


def test_failed_commit_leaves_untrusted_entry(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.warns(UserWarning, match="cache"):
        ds = vf.load_image_folder(folder, split="val", cache_dir=cache)
    assert len(ds) == 6  # the data still load
    monkeypatch.setattr(os, "replace", real_replace)
    assert not list(cache.glob("*.json"))
    decodes = _counting(monkeypatch, vf, "_decode_image")
    vf.load_image_folder(folder, split="val", cache_dir=cache)
    assert len(decodes) == 6  # arrays without a commit marker are ignored
    assert len(list(cache.glob("*.json"))) == 1


def test_truncated_cache_file_is_ignored(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    vf.load_image_folder(folder, split="val", cache_dir=cache)
    (npy,) = cache.glob("*.images.npy")
    npy.write_bytes(npy.read_bytes()[:-10])
    decodes = _counting(monkeypatch, vf, "_decode_image")
    ds = vf.load_image_folder(folder, split="val", cache_dir=cache)
    assert len(decodes) == 6 and ds.images.shape == (6, 4, 5, 3)


# ---------------------------------------------------------------------------------------------------------
# ImageNet


def test_imagenet_needs_a_root(tmp_path, monkeypatch, folder):
    with pytest.raises(DataSourceError, match="VQLIB_IMAGENET") as err:
        vi.load_imagenet()
    assert "imagenet-sample-256.tar" in str(err.value)
    with pytest.raises(DataSourceError, match="missing-inet"):
        vi.load_imagenet(root=tmp_path / "missing-inet")
    monkeypatch.setenv("VQLIB_IMAGENET", str(folder))
    ds = vi.load_imagenet(resolution=4, cache_dir=tmp_path / "cache")
    assert ds.images.shape == (6, 4, 4, 3) and ds.classes == ("ant", "cat")
    assert "VQLIB_IMAGENET" in ds.source and "6 images" in ds.source
    assert list((tmp_path / "cache").glob("*.json"))


# ---------------------------------------------------------------------------------------------------------
# Tensor helpers


def test_to_tensor_to_uint8_round_trip():
    every_value = np.arange(256 * 3, dtype=np.int64).reshape(16, 16, 3) % 256
    batch = np.stack([every_value, 255 - every_value]).astype(np.uint8)
    x = pixels.to_tensor(batch)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(pixels.to_uint8(x), batch)
    assert pixels.to_tensor(batch[0]).shape == (3, 16, 16)
    np.testing.assert_array_equal(pixels.to_uint8(x * 1000), np.where(batch >= 128, 255, 0))  # clipped


def test_default_data_dir(monkeypatch, tmp_path):
    assert vi.default_data_dir() == tmp_path / "vqdata"
    monkeypatch.delenv("VQLIB_DATA")
    assert vi.default_data_dir() == vi.pathlib.Path(vi.__file__).resolve().parent.parent / "data"


class _FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_download_verifies_md5_before_publishing(official, tmp_path, monkeypatch):
    path, batches = official
    payload = path.read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(payload[:-100]))
    data_dir = tmp_path / "d"
    with pytest.raises(DataSourceError, match="md5"):
        vi.load_cifar10("test", data_dir=data_dir)
    assert list(data_dir.iterdir()) == []  # the truncated transfer was not kept under the official name
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(payload))
    ds = vi.load_cifar10("test", data_dir=data_dir)
    assert (data_dir / cifar10.CIFAR10_ARCHIVE_NAME).read_bytes() == payload
    np.testing.assert_array_equal(ds.labels, _expected(batches, ["test_batch"])[1])


# ---------------------------------------------------------------------------------------------------------
# Parallel, resumable decoding into a memory-mapped cache


def _many(root, n_per_class=7, classes=("a", "b", "c")):
    rng = np.random.default_rng(1)
    for c in classes:
        for i in range(n_per_class):
            _png(root / "train" / c / f"{i:03d}.png", rng.integers(0, 256, (6, 5, 3)))
    return root


def test_parallel_decode_equals_in_memory_decode(tmp_path, monkeypatch):
    root = _many(tmp_path / "f")
    expected = vf.load_image_folder(root, "train")  # no cache folder: decoded in memory, in this process
    monkeypatch.setattr(vf, "_DECODE_CHUNK", 4)
    monkeypatch.setenv("VQLIB_DECODE_WORKERS", "2")
    decoded = vf.load_image_folder(root, "train", cache_dir=tmp_path / "cache")  # 6 chunks, 2 worker processes
    np.testing.assert_array_equal(decoded.images, expected.images)
    np.testing.assert_array_equal(decoded.labels, expected.labels)
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "cache").iterdir()) == [
        "images.npy", "json", "labels.npy"]  # no partial or progress file left


def test_interrupted_decode_resumes_and_is_never_read_as_complete(tmp_path, monkeypatch):
    root = _many(tmp_path / "f")
    expected = vf.load_image_folder(root, "train")
    cache = tmp_path / "cache"
    monkeypatch.setattr(vf, "_DECODE_CHUNK", 4)
    monkeypatch.setenv("VQLIB_DECODE_WORKERS", "1")
    real_chunk = vf._decode_chunk
    calls = []

    def chunk_then_die(*args):
        if len(calls) == 3:
            raise Interrupted("killed during the 4th chunk")
        calls.append(args[1])
        return real_chunk(*args)

    monkeypatch.setattr(vf, "_decode_chunk", chunk_then_die)
    with pytest.raises(Interrupted):
        vf.load_image_folder(root, "train", cache_dir=cache)
    assert not list(cache.glob("*.json")) and not list(cache.glob("*.images.npy"))  # nothing reads as complete
    assert list(cache.glob("*.partial.npy")) and list(cache.glob("*.progress"))
    monkeypatch.setattr(vf, "_decode_chunk", real_chunk)
    decodes = _counting(monkeypatch, vf, "_decode_image")
    resumed = vf.load_image_folder(root, "train", cache_dir=cache)
    assert len(decodes) == 21 - 3 * 4  # only the chunks that were not on disk
    np.testing.assert_array_equal(resumed.images, expected.images)


# ---------------------------------------------------------------------------------------------------------
# The readers split by concern (issue 21): cifar10 (archive, download), image_folder (decoder), images (which
# source), imageset (ImageSet, DataSourceError, the array cache), pixels (uint8 <-> float tensors)


def test_cache_keys_are_those_of_the_entries_already_on_disk():
    """Arrays decoded before the split are found after it: the same parts give the same key and file names
    (the values were computed with the single-module vqlib.images)."""
    folder_parts = {"root": "/data/imagenet/val", "mtime": 1700000000123456789,
                    "classes": [["n01440764", 50, 1700000000000000001], ["n01443537", 50, 1700000000000000002]],
                    "resolution": 144, "limit_per_class": None}
    assert imageset.cache_key("folder", folder_parts) == "folder-15e415f8b9e03df84d78"
    archive_parts = {"archive": "/data/cifar-10-python.tar.gz", "mtime": 1700000000000000000, "size": 170498071,
                     "split": "test"}
    assert imageset.cache_key("cifar10-test", archive_parts) == "cifar10-test-d6068dddf75b9fa386b7"
    names = [p.name for p in imageset.cache_paths(vi.pathlib.Path("/cache"), "folder-15e415f8b9e03df84d78")]
    assert names == ["folder-15e415f8b9e03df84d78.images.npy", "folder-15e415f8b9e03df84d78.labels.npy",
                     "folder-15e415f8b9e03df84d78.json"]


def _vqlib_imports(module) -> set[str]:
    """The vqlib modules a module of vqlib imports (``from . import a``, ``from .b import c``)."""
    found = set()
    for node in ast.walk(ast.parse(open(module.__file__).read())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [alias.name for alias in node.names])
    return found


def test_the_image_readers_are_split_by_concern_into_modules_of_at_most_600_lines():
    for module in (imageset, cifar10, vf, vi, pixels):
        lines = len(open(module.__file__).read().splitlines())
        assert lines <= 600, f"{module.__name__} has {lines} lines"
    readers = {"cifar10", "image_folder", "images"}
    assert not _vqlib_imports(imageset) & readers and not _vqlib_imports(pixels)
    assert not _vqlib_imports(cifar10) & readers and not _vqlib_imports(vf) & readers  # two independent readers
    assert {"cifar10", "image_folder", "imageset"} <= _vqlib_imports(vi)  # images only chooses among them
    assert vi.DataSourceError is DataSourceError and vi.ImageSet is imageset.ImageSet  # what its loaders return
