import hashlib

import numpy as np
import pytest

from vqlib import plotting
from vqlib.plotting import plt, save_figure


def _figure():
    plotting.set_style()
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 50)
    ax.plot(x, x ** 2, label="curve")
    ax.legend()
    return fig


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_figure_is_byte_identical_across_runs(tmp_path):
    png = save_figure(_figure(), "01_demo", "synthetic test data")
    first = (_digest(png), _digest(png.with_suffix(".pdf")))
    png2 = save_figure(_figure(), "01_demo", "synthetic test data")
    assert png2 == png == tmp_path / "figures" / "01_demo.png"
    assert (_digest(png2), _digest(png2.with_suffix(".pdf"))) == first
    assert b"CreationDate" not in png.with_suffix(".pdf").read_bytes()
    assert not list((tmp_path / "figures").glob(".*tmp"))


def test_non_default_scales_write_beside_the_gallery(tmp_path):
    png = save_figure(_figure(), "01_demo", "synthetic test data", scale="smoke")
    assert png == tmp_path / "figures" / "smoke" / "01_demo.png"
    assert not (tmp_path / "figures" / "01_demo.png").exists()


def test_save_figure_requires_a_name_and_provenance():
    with pytest.raises(ValueError, match="provenance"):
        save_figure(_figure(), "x", "")
    with pytest.raises(ValueError, match="name"):
        save_figure(_figure(), "../x", "data")
