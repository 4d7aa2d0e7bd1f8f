"""Versions recorded with every cached result, and a warning when a result made under others is used."""

from __future__ import annotations

import warnings

import pytest
import torch

from vqlib import cache, versions


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(versions, "_warned", set())


def test_entries_record_the_versions_they_were_made_under():
    path = cache.save("run", {"x": 1}, {"value": 3})
    entry = torch.load(path, weights_only=False)
    assert entry["versions"] == versions.current()
    assert set(entry["versions"]) == {"python", "torch", "numpy", "pandas", "matplotlib", "cpu"}
    assert entry["versions"]["torch"] == torch.__version__


def test_same_versions_load_silently():
    cache.save("run", {"x": 1}, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.load("run", {"x": 1}) == 5


def test_a_result_made_under_other_versions_is_reported_once(monkeypatch):
    path = cache.save("run", {"x": 1}, 5)
    entry = torch.load(path, weights_only=False)
    entry["versions"] = {**entry["versions"], "torch": "2.0.0", "matplotlib": "3.0.0"}
    torch.save(entry, path)
    with pytest.warns(UserWarning, match=r"torch 2\.0\.0 \(now .*\), matplotlib 3\.0\.0 \(now .*\)"):
        assert cache.load("run", {"x": 1}) == 5  # still served: it agrees to rounding, but not silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.load("run", {"x": 1})  # the same difference is said once


def test_entries_from_before_versions_were_recorded_give_no_difference():
    assert versions.differences(None) == {} and versions.differences({}) == {}
    assert versions.differences(versions.current()) == {}


def test_notebooks_print_the_versions_first(capsys):
    from vqlib.studies import begin

    begin("smoke")
    assert capsys.readouterr().out.startswith(f"versions: python {versions.current()['python']}, torch ")
