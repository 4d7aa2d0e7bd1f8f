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


def _drawn(ax):
    """The lines that hold data (seaborn's), not the legend's empty entries nor error bars' caps."""
    return [line for line in ax.lines if len(line.get_xdata()) and line.get_linestyle() != "None"]


def test_plot_curves_and_sweep_draw_means_over_seeds_with_min_max_ranges():
    import pandas as pd

    frames = [pd.DataFrame({"step": [0, 10], "utilization": [0.2, 0.4]}),
              pd.DataFrame({"step": [0, 10], "utilization": [0.4, 0.8]})]
    fig, ax = plt.subplots()
    plotting.plot_curves(ax, {"deferred": frames}, "utilization")
    (line,) = _drawn(ax)
    assert list(line.get_ydata()) == pytest.approx([0.3, 0.6])
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["deferred (n=2)"]
    (band,) = ax.collections  # the band spans min to max over seeds
    (lows, highs) = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (lows, highs) == pytest.approx((0.2, 0.8))
    table = pd.DataFrame({"K": [4, 4, 8, 8], "arm": ["a"] * 4, "perplexity": [1.0, 3.0, 5.0, 7.0]})
    fig, ax = plt.subplots()
    plotting.plot_sweep(ax, table, "K", "perplexity", group="arm", logx=True)
    (line,) = _drawn(ax)
    assert list(line.get_ydata()) == pytest.approx([2.0, 6.0])
    (bars,) = ax.containers  # error bars from min to max: 1-3 and 5-7
    segments = bars.lines[2][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [pytest.approx((1.0, 3.0)), pytest.approx((5.0, 7.0))]
    assert ax.get_xscale() == "log"
    assert ax.get_legend_handles_labels()[1] == ["a"]
    plt.close("all")


def test_a_curve_without_values_before_the_switch_starts_at_the_switch():
    """Code metrics are NaN during a deferred arm's continuous phase: the curve starts where they exist."""
    import pandas as pd

    frames = [pd.DataFrame({"step": [0, 10, 20], "perplexity": [np.nan, 4.0, 6.0]})] * 2
    fig, ax = plt.subplots()
    plotting.plot_curves(ax, {"deferred": frames}, "perplexity")
    (line,) = _drawn(ax)
    assert list(line.get_xdata()) == [10, 20] and list(line.get_ydata()) == pytest.approx([4.0, 6.0])
    plt.close(fig)


def test_the_house_style_is_a_seaborn_theme():
    import seaborn as sns

    plotting.set_style()
    assert plt.rcParams["axes.spines.top"] is False and plt.rcParams["font.size"] == 9
    assert plt.rcParams["axes.facecolor"] == "white" and plt.rcParams["axes.grid"]
    assert sns.color_palette()[0] == sns.color_palette("tab10")[0]


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
    assert _drawn(axes[0, 0])[0].get_color() == "#ff0000" and len(_drawn(axes[0, 0])) == 2
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
    assert axes[0, 0].get_legend_handles_labels()[1] == ["baseline (n=5/3)", "deferred (n=5)"]
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


def test_effect_sizes_label_a_row_whose_runs_had_not_finished():
    from vqlib.plotting import effect_sizes
    from vqlib.studies.claims import Claim, claims_table

    rows = claims_table([Claim("settled", "higher", [2.0], [1.0], finished=True),
                         Claim("stopped early", "higher", [2.0], [1.0], finished=False),
                         Claim("unchecked", "higher", [2.0], [1.0])])
    fig, ax = effect_sizes(rows)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)
    assert labels == ["settled", "stopped early [runs not finished]", "unchecked"]


# ---- one notation per axis, readable log ticks, one colour per arm (issue 22, section 8) ----------------------

def _labels_in_view(ax, axis: str = "x") -> list[str]:
    """The non-empty labels of the major ticks inside the axis' view, as the drawn figure shows them."""
    ax.figure.canvas.draw()
    which = ax.xaxis if axis == "x" else ax.yaxis
    low, high = sorted(which.get_view_interval())
    return [t.get_text() for t in which.get_majorticklabels()
            if t.get_text() and low * (1 - 1e-9) <= t.get_position()[0 if axis == "x" else 1] <= high * (1 + 1e-9)]


def _notation(label: str) -> str:
    return "power" if "^" in label else "scientific" if "e" in label.lower() else "plain"


@pytest.mark.parametrize("values, expected", [
    ((4, 16, 64, 256), ["4", "16", "64", "256"]),  # 01_capacity's widths read "4, 16, 2^6, 2^8" before
    ((4, 64, 256), ["4", "64", "256"]),
    ((64, 256, 1024, 4096), ["$2^{6}$", "$2^{8}$", "$2^{10}$", "$2^{12}$"]),
    ((16, 64, 256, 1024, 4096, 16384), ["$2^{4}$", "$2^{6}$", "$2^{8}$", "$2^{10}$", "$2^{12}$", "$2^{14}$"]),
    ((5, 10, 20, 40, 80, 160), ["5", "10", "20", "40", "80", "160"]),
    ((0.001, 0.01, 0.1, 1, 10, 100), ["0.001", "0.01", "0.1", "1", "10", "100"]),
    ((0, 5, 10, 25, 33, 50), ["0", "5", "10", "25", "33", "50"]),
    ((100, 1000, 1e6), ["$10^{2}$", "$10^{3}$", "$10^{6}$"]),  # never "1e+06" beside "100"
    ((3, 1000, 1e6), ["3", "1000", "1000000"]),
])
def test_sweep_ticks_use_one_notation_per_axis(values, expected):
    labels = plotting.tick_labels(values)
    assert labels == expected
    assert len({_notation(t) for t in labels}) == 1


def test_every_committed_sweep_reads_in_one_notation():
    """The x values of every figure drawn by plot_sweep: one notation on each axis, as drawn."""
    import pandas as pd

    from vqlib.studies import fixes, generation, mixture

    sweeps = {"01_capacity width": [w for _, d, w in mixture.CAPACITIES if d == 2],
              "01_codebook_size": mixture.CODEBOOK_SIZES, "01_init_scale": mixture.RELATIVE_SCALES,
              "02_codebook_size": (64, 256, 1024, 4096), "02_capacity": (16, 32, 64),
              "03_defer_fraction": sorted(fixes.TIMING_ARMS.values()),
              "04_diversity_vs_tc": sorted({a.t_c_percent for a in generation.TOKENIZER_ARMS}),
              **{f"03_capacity {dataset}": values for dataset, (_, values) in fixes.CAPACITY.items()}}
    for name, values in sweeps.items():
        table = pd.DataFrame({"x": list(values), "y": range(len(values))})
        fig, ax = plt.subplots()
        plotting.plot_sweep(ax, table, "x", "y", logx=min(values) > 0)
        labels = _labels_in_view(ax)
        assert labels == plotting.tick_labels(sorted(values)), name
        assert len({_notation(t) for t in labels}) == 1, (name, labels)
        plt.close(fig)


@pytest.mark.parametrize("low, high", [(0.02, 0.3), (0.0023, 0.35), (0.8, 260), (0.08, 20), (0.024, 0.037),
                                       (1e-4, 10)])
def test_log_ticks_label_at_least_three_ticks_in_plain_numbers(low, high):
    """03_arms' CIFAR-10 MSE panel (about 0.02 to 0.3) had a single labelled tick."""
    for axis in ("x", "y"):
        fig, ax = plt.subplots(figsize=(3.5, 3))
        (ax.semilogx if axis == "x" else ax.semilogy)([low, high], [low, high])
        plotting.log_ticks(ax, axis)
        labels = _labels_in_view(ax, axis)
        assert 3 <= len(labels) <= 9, labels
        assert {_notation(t) for t in labels} == {"plain"}, labels
        plt.close(fig)


def test_plot_sweep_draws_one_line_in_a_given_colour_and_points_in_their_own():
    import pandas as pd
    from matplotlib.colors import to_rgba

    table = pd.DataFrame({"T_c %": [0, 0, 10, 10], "u": [0.2, 0.4, 0.9, 1.0]})
    fig, ax = plt.subplots()
    plotting.plot_sweep(ax, table, "T_c %", "u", color="0.5", label="sweep", point_colors={0: "#ff0000", 10: "b"})
    (line,) = _drawn(ax)
    assert to_rgba(line.get_color()) == to_rgba("0.5") and ax.get_legend_handles_labels()[1] == ["sweep"]
    (points,) = ax.collections[-1:]
    assert [tuple(c) for c in points.get_facecolors()] == [to_rgba("#ff0000"), to_rgba("b")]
    plt.close(fig)


def test_every_arm_has_a_colour_of_its_own():
    """One palette for the arms: no two arms that can share a figure look alike (early low-dim lookup and
    vector-quantize-pytorch were both mid-grey)."""
    from itertools import combinations

    from matplotlib.colors import to_rgb

    from vqlib.studies.arms import ARMS

    for a, b in combinations(ARMS.values(), 2):
        distance = np.linalg.norm(np.subtract(to_rgb(a.color), to_rgb(b.color)))
        assert distance > 0.05, f"{a.id} and {b.id} have nearly the same colour ({a.color}, {b.color})"


def test_a_line_style_draws_the_curves_and_their_legend_entries():
    """02_shrinkage draws one line style per dataset: the data's lines carry it, not only the legend's."""
    import pandas as pd

    frames = [pd.DataFrame({"step": [0, 10], "u": [0.2, 0.4]})] * 2
    fig, ax = plt.subplots()
    plotting.plot_curves(ax, {"ImageNet": frames}, "u", linestyle="--")
    (line,) = _drawn(ax)
    (entry,), _ = ax.get_legend_handles_labels()
    assert line.get_linestyle() == entry.get_linestyle() == "--"
    plt.close(fig)


def test_the_seed_range_always_holds_the_mean():
    """Three equal values can average a rounding error above their max; matplotlib refuses a negative error bar."""
    import pandas as pd

    values = pd.Series([0.1, 0.1, 0.1])
    assert values.mean() > values.max()  # the case that broke 01_init_scale
    low, high = plotting.seed_range(values)
    assert low <= values.mean() <= high
    assert plotting.seed_range(pd.Series([1.0, 3.0, 2.0])) == (1.0, 3.0)


def test_long_forest_labels_are_kept_inside_the_figure():
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set_yticks([0, 1], ["short", "a label far too long for the room the layout leaves on the left of the axes"])
    ax.set_position([0.05, 0.2, 0.9, 0.7])
    plotting.keep_labels_inside(fig, ax)
    fig.canvas.draw()
    left = min(label.get_window_extent().x0 for label in ax.get_yticklabels())
    assert left >= 0.015 * fig.bbox.width - 1
    plt.close(fig)
