"""The artifact store: keys from full specs and data content, verified entries, atomic writes, and the golden
fingerprint that guards the schema version."""

import dataclasses
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqlib import cache, diversity
from vqlib.data import ImageSpec, MixtureSpec, forget_prepared
from vqlib.experiments import ModelSpec, RunSpec, run, run_key
from vqlib.features import train_classifier
from vqlib.generate import PriorSpec, train_prior
from vqlib.studies import ARMS
from vqlib.train import TrainSpec

GOLDEN = Path(__file__).parent / "golden_fingerprint.json"
MIXTURE_RUN = RunSpec(MixtureSpec(num_components=3, points_per_component=40, dim=2),
                      ModelSpec(num_codes=6, latent_dim=2, depth=1, width=16),
                      TrainSpec(steps=20, batch_size=32, eval_every=10), seed=0)


def _image_folder(root: Path, seed: int = 0, size: int = 20, per_class: int = 4) -> Path:
    """A tiny lossless ImageFolder <root>/val/<class>/*.png with three classes."""
    rng = np.random.default_rng(seed)
    for c in ("a", "b", "c"):
        (root / "val" / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "val" / c / f"{i}.png")
    return root


def _image_run(root: Path) -> RunSpec:
    return RunSpec(ImageSpec("imagenet", resolution=16, train_images=None, eval_images=6, crop_margin=4,
                             root=str(root)),
                   ModelSpec(kind="conv", num_codes=8, latent_dim=4, channels=8, num_res_blocks=1),
                   TrainSpec(steps=6, batch_size=4, eval_every=3, init_samples=64, eval_batch_size=4), seed=0)


# -- keys --------------------------------------------------------------------------------------------------
def test_spec_payload_holds_every_field_defaults_included_but_not_where_data_is_read():
    payload = cache.spec_payload(MIXTURE_RUN)
    assert payload["_type"] == "RunSpec" and payload["data"]["_type"] == "MixtureSpec"
    # ema, quantizer, ... at their defaults too; a field added later is left out at its "absent" value
    model_fields = {f.name for f in dataclasses.fields(ModelSpec) if "absent" not in f.metadata}
    assert set(payload["model"]) == model_fields | {"_type"}
    assert payload["model"]["quantizer"] == "vqlib" and payload["train"]["lr"] == 1e-3
    a, b = ImageSpec(root="/one/copy"), ImageSpec(root="/another/copy")
    assert cache.spec_payload(a) == cache.spec_payload(b) and "root" not in cache.spec_payload(a)


def test_keys_depend_on_kind_payload_and_schema(monkeypatch):
    key = cache.entry_key("run", {"x": 1})
    assert cache.entry_key("run", {"x": 2}) != key
    assert cache.entry_key("prior", {"x": 1}) != key
    monkeypatch.setattr(cache, "SCHEMA_VERSION", cache.SCHEMA_VERSION + 1)
    assert cache.entry_key("run", {"x": 1}) != key
    with pytest.raises(ValueError, match="unknown cache kind 'model'"):
        cache.entry_key("model", {})
    with pytest.raises(TypeError, match="plain data"):
        cache.entry_key("run", {"x": object()})


def test_run_key_names_the_data_by_content_not_by_path(tmp_path):
    """The same pixels anywhere (a moved or re-cloned checkout) give the same key; other pixels another."""
    first = _image_folder(tmp_path / "first")
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(first, moved)
    other = _image_folder(tmp_path / "other", seed=1)
    key = run_key(_image_run(first))
    assert run_key(_image_run(moved)) == key
    assert run_key(_image_run(other)) != key
    assert str(tmp_path) not in json.dumps(cache.spec_payload(_image_run(first)))


def test_digest_is_a_content_checksum():
    a = torch.arange(12).reshape(3, 4)
    assert cache.digest(a) == cache.digest(a.clone()) == cache.digest(a.numpy())
    assert cache.digest(a) != cache.digest(a.reshape(4, 3))  # the shape counts
    assert cache.digest(a) != cache.digest(a.float())  # and the dtype
    b = a.clone()
    b[2, 3] += 1
    assert cache.digest(a) != cache.digest(b)


# -- entries -----------------------------------------------------------------------------------------------
def test_cached_computes_once_then_loads():
    calls = []

    def compute():
        calls.append(1)
        return {"value": torch.arange(3)}

    first, hit_first = cache.cached("prior", {"a": 1}, compute)
    second, hit_second = cache.cached("prior", {"a": 1}, compute)
    assert (hit_first, hit_second) == (False, True) and len(calls) == 1
    assert torch.equal(first["value"], second["value"])
    cache.cached("prior", {"a": 1}, compute, force=True)
    cache.cached("prior", {"a": 1}, compute, enabled=False)
    assert len(calls) == 3


def test_a_truncated_entry_is_recomputed_with_a_warning():
    first = run(MIXTURE_RUN)
    path = cache.entry_path("run", {"spec": cache.spec_payload(MIXTURE_RUN), "data": run_key_data()})
    assert path.exists()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(UserWarning, match="recomputed: it cannot be read"):
        again = run(MIXTURE_RUN)
    assert not again.cached
    np.testing.assert_allclose(again.history["recon_mse"], first.history["recon_mse"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry is whole again: no warning
        assert run(MIXTURE_RUN).cached


def run_key_data():
    from vqlib.data import prepare

    return prepare(MIXTURE_RUN.data).identity


def test_an_entry_with_another_payload_or_schema_is_not_served():
    payload = {"spec": "A"}
    cache.save("run", payload, {"answer": 1})
    path = cache.entry_path("run", payload)
    # a file copied over the entry by hand, written for another request
    cache.save("run", {"spec": "B"}, {"answer": 2})
    shutil.copy(cache.entry_path("run", {"spec": "B"}), path)
    with pytest.warns(UserWarning, match="stored spec differs"):
        assert cache.load("run", payload) is None
    assert not path.exists()
    # an entry written by another schema version
    entry = {"kind": "run", "schema": cache.SCHEMA_VERSION - 1, "payload": cache.canonical(payload), "value": 3}
    torch.save(entry, path)
    with pytest.warns(UserWarning, match="schema"):
        assert cache.load("run", payload) is None


def test_atomic_write_leaves_the_old_file_or_nothing(tmp_path):
    path = tmp_path / "sub" / "file.bin"
    cache.atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


# -- the golden fingerprint ----------------------------------------------------------------------------------
# A hash alone would be too brittle: the conv runs differ between one and two threads in the 5th digit. The
# golden file holds the numbers themselves (6 significant digits) and the test compares them within RTOL.
RTOL = 1e-3


def _rounded(value):
    """Numbers to 6 significant digits, recursively (NaN as a string, so that JSON keeps it comparable)."""
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    return "nan" if math.isnan(value) else float(f"{value:.6g}")


def number_sheet(tmp_path: Path) -> dict:
    """Every cached kind computed by tiny runs of today's code: training runs (early k-means with EMA,
    deferred, dead-code replacement, a random codebook, an image run with crops), a token prior, a feature
    classifier and the diversity measures of the generation study."""
    sheet = {}
    for arm_id in ("early_kmeans", "deferred", "early_dead_code", "early_normal"):
        history = run(ARMS[arm_id](MIXTURE_RUN), cache=False).history.drop(columns="wall_time")
        sheet[arm_id] = history.to_dict("list")
    image = run(ARMS["deferred"](_image_run(_image_folder(tmp_path / "images"))), cache=False)
    sheet["image"] = image.history.drop(columns="wall_time").to_dict("list")
    tokens = torch.randint(0, 5, (24, 2, 2), generator=torch.Generator().manual_seed(0))
    _, prior_history = train_prior(tokens, 5, PriorSpec(steps=6, batch_size=8, dim=16, depth=1, heads=2,
                                                        eval_every=3), seed=0, val_tokens=tokens[:8])
    sheet["prior"] = prior_history.drop(columns="wall_time").to_dict("list")
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    _, classifier_history = train_classifier(images, torch.arange(16) % 2, steps=4, batch_size=8, num_classes=2,
                                             eval_every=2)
    sheet["classifier"] = classifier_history.drop(columns="wall_time").to_dict("list")
    real = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(20, 4, generator=torch.Generator().manual_seed(2))
    sheet["diversity"] = {"pixel": diversity.mean_pairwise_pixel_distance(images),
                          "frechet": diversity.frechet_distance(real, fake),
                          "pr": diversity.precision_recall(real, fake), "vendi": diversity.vendi_score(real),
                          "tokens": diversity.token_diversity(tokens, 5)}
    forget_prepared()
    return _rounded(sheet)


def _differences(current, golden, path=""):
    """Where two sheets differ beyond RTOL: a list of 'path: golden -> current'."""
    if isinstance(golden, dict) and isinstance(current, dict):
        if set(golden) != set(current):
            return [f"{path or '/'}: keys {sorted(golden)} -> {sorted(current)}"]
        return [d for k in golden for d in _differences(current[k], golden[k], f"{path}/{k}")]
    if isinstance(golden, list) and isinstance(current, list):
        if len(golden) != len(current):
            return [f"{path}: {len(golden)} values -> {len(current)}"]
        return [d for i, (c, g) in enumerate(zip(current, golden)) for d in _differences(c, g, f"{path}[{i}]")]
    if isinstance(golden, float) and isinstance(current, float) and not isinstance(golden, bool):
        return [] if math.isclose(current, golden, rel_tol=RTOL, abs_tol=1e-9) else [f"{path}: {golden} -> {current}"]
    return [] if current == golden else [f"{path}: {golden} -> {current}"]


def test_golden_fingerprint_guards_the_schema_version(tmp_path, one_thread):
    current = number_sheet(tmp_path)
    golden = json.loads(GOLDEN.read_text())
    fix = (f"write the numbers this code computes into tests/{GOLDEN.name} with \"schema\": {cache.SCHEMA_VERSION} "
           "(python tests/test_cache.py does it)")
    assert golden["schema"] == cache.SCHEMA_VERSION, (
        f"vqlib.cache.SCHEMA_VERSION is {cache.SCHEMA_VERSION} but the golden numbers were recorded under schema "
        f"{golden['schema']}: {fix}")
    changed = _differences(current, golden["numbers"])
    assert not changed, (
        "The numbers that vqlib caches changed (training, metrics, priors, classifiers or diversity measures) "
        f"while the cache schema stayed {cache.SCHEMA_VERSION}, so the cache would serve stale results. If the "
        f"change is intended, bump SCHEMA_VERSION in vqlib/cache.py (every entry is then recomputed) and {fix}; "
        f"if not, find what changed them. First differences: {changed[:5]}")


if __name__ == "__main__":  # record the golden numbers of this code under the current schema
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(VQLIB_DATA=f"{scratch}/data", VQLIB_CACHE=f"{scratch}/cache", VQLIB_PROGRESS="0")
        torch.set_num_threads(1)
        numbers = number_sheet(Path(scratch))
    GOLDEN.write_text(json.dumps({"schema": cache.SCHEMA_VERSION, "numbers": numbers}, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} for schema {cache.SCHEMA_VERSION}")


def test_the_golden_check_bites_when_training_code_or_a_default_changes(tmp_path, monkeypatch, one_thread):
    """What the guard is for: a changed line of training code, or a changed spec default, moves the numbers
    beyond RTOL."""
    import vqlib.train as train_module

    golden = json.loads(GOLDEN.read_text())["numbers"]
    real_loss = train_module.reconstruction_loss
    with monkeypatch.context() as patched:
        patched.setattr(train_module, "reconstruction_loss", lambda r, x: 1.05 * real_loss(r, x))
        assert _differences(number_sheet(tmp_path / "a"), golden)
    with monkeypatch.context() as patched:
        field = {f.name: f for f in dataclasses.fields(TrainSpec)}["kmeans_iters"]
        patched.setattr(field, "default", 3)
        patched.setattr(TrainSpec.__init__, "__defaults__", tuple(
            3 if f.name == "kmeans_iters" else f.default for f in dataclasses.fields(TrainSpec)))
        assert TrainSpec().kmeans_iters == 3
        assert _differences(number_sheet(tmp_path / "b"), golden)
