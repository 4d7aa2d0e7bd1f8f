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


def test_plot_curves_and_sweep_draw_means_over_seeds():
    import pandas as pd

    frames = [pd.DataFrame({"step": [0, 10], "utilization": [0.2, 0.4]}),
              pd.DataFrame({"step": [0, 10], "utilization": [0.4, 0.8]})]
    fig, ax = plt.subplots()
    plotting.plot_curves(ax, {"deferred": frames}, "utilization")
    line = ax.lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.3, 0.6])
    assert line.get_label() == "deferred (n=2)"
    table = pd.DataFrame({"K": [4, 4, 8, 8], "arm": ["a"] * 4, "perplexity": [1.0, 3.0, 5.0, 7.0]})
    fig, ax = plt.subplots()
    plotting.plot_sweep(ax, table, "K", "perplexity", group="arm", logx=True)
    assert list(ax.lines[0].get_ydata()) == pytest.approx([2.0, 6.0])
    assert ax.get_xscale() == "log"
    plt.close("all")


def test_provenance_paths_inside_the_repository_are_shown_relative(monkeypatch, tmp_path):
    from vqlib import paths

    monkeypatch.setenv("VQLIB_ROOT", str(tmp_path))
    assert paths.relative_text(f"copy at {tmp_path}/data/cifar10-jpeg (VQLIB_CIFAR10)") == (
        "copy at data/cifar10-jpeg (VQLIB_CIFAR10)")


def test_image_grid_tiles_images_in_rows_with_white_gaps():
    import torch

    batch = torch.stack([torch.full((3, 2, 2), v) for v in (-1.0, 0.0, 1.0)])  # black, grey, white
    canvas = plotting.image_grid(batch, columns=2, gap=1)
    assert canvas.shape == (2 * 3, 2 * 3, 3) and canvas.dtype == np.uint8
    assert (canvas[0:2, 0:2] == 0).all()  # first tile black
    assert (canvas[0:2, 3:5] == canvas[0, 3]).all() and 120 <= canvas[0, 3, 0] <= 135  # second tile grey
    assert (canvas[3:5, 0:2] == 255).all()  # third tile white, on the second row
    assert (canvas[2, :] == 255).all()  # the gap row is white


def test_plotting_converts_pixels_without_importing_the_dataset_readers():
    """image_grid needs only the uint8 conversion (vqlib.pixels), not the readers of CIFAR-10 and ImageFolders."""
    import ast
    from pathlib import Path

    readers = {"images", "cifar10", "image_folder"}
    for path in sorted(Path(plotting.__file__).parent.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:  # from ..name import x / from .. import name
                imported.update([node.module] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vqlib."):
                imported.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imported.update(a.name.split(".")[1] for a in node.names if a.name.startswith("vqlib."))
        assert not imported & readers, f"{path.name} imports the dataset readers {sorted(imported & readers)}"
        if path.name == "core.py":
            assert "pixels" in imported


def test_curve_grid_draws_one_row_per_group_with_colours_log_axes_and_unit_lines():
    import pandas as pd

    frames = [pd.DataFrame({"step": [0, 10], "utilization": [0.2, 0.4], "shrinkage": [0.5, 1.5]})]
    rows = {"A": {"early": frames, "late": frames}, "B": {"early": frames}}
    fig, axes = plotting.curve_grid(rows, [("utilization", "use"), ("shrinkage", "ratio")], colors={"early": "#ff0000"},
                                    log_y=("utilization",), unit_line=("shrinkage",))
    assert axes.shape == (2, 2)
    assert axes[0, 0].get_yscale() == "log" and axes[0, 1].get_yscale() == "linear"
    assert axes[1, 0].get_ylabel() == "B: use"
    assert axes[0, 0].lines[0].get_color() == "#ff0000" and len(axes[0, 0].lines) == 2
    assert [tuple(line.get_ydata()) for line in axes[0, 1].lines][-1] == (1.0, 1.0)  # the unit line
    assert axes[0, 0].get_legend() is not None and axes[1, 0].get_legend() is None
    plt.close("all")


def test_importing_plotting_leaves_the_backend_alone():
    """Only use_headless_backend() chooses a backend: importing vqlib.plotting must not (notebooks keep
    their inline backend), and saving figures works headless without it."""
    import os
    import subprocess
    import sys

    code = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import vqlib.plotting as p; after = matplotlib.rcParams._get_backend_or_none(); "
            "print(before, after)")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    before, after = out.split()
    assert before == after == "None"


def test_curve_grid_legend_says_each_rows_seed_count_where_they_differ():
    import pandas as pd

    from vqlib.plotting import curve_grid

    def runs(n):
        return [pd.DataFrame({"step": [0, 1], "loss": [1.0, 0.5]}) for _ in range(n)]

    fig, axes = curve_grid({"A": {"baseline": runs(5), "deferred": runs(5)}, "B": {"baseline": runs(3),
                                                                                  "deferred": runs(5)}},
                           [("loss", "loss")])
    labels = [line.get_label() for line in axes[0, 0].get_lines()]
    assert labels == ["baseline (n=5/3)", "deferred (n=5)"]
    plt.close(fig)


def test_effect_sizes_legend_names_every_marker_drawn():
    from vqlib.plotting import effect_sizes
    from vqlib.studies.claims import Claim, claims_table

    higher = Claim("utilization", "higher", [2.0, 2.1], [1.0, 1.1])
    equal = Claim("reconstruction", "equal", [1.0, 1.01], [1.0, 1.02])

    def legend_labels(claims):
        fig, ax = effect_sizes(claims_table(claims))
        labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
        markers = {line.get_marker() for line in ax.get_lines() if len(line.get_xdata())} - {"None"}
        plt.close(fig)
        return labels, markers

    labels, markers = legend_labels([higher, equal])
    assert markers == {">", "D"} and "paper expects equal" in labels
    labels, markers = legend_labels([higher])
    assert markers == {">"} and "paper expects equal" not in labels
