"""The house style (a seaborn theme), deterministic figure files, and the statistical views every study draws:
curves over training with seed bands and sweeps with ranges (seaborn's ``lineplot`` on long tables, the range
:func:`seed_range`), and the effect-size forest."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

from .. import paths
from ..cache import atomic_write

__all__ = ["set_style", "use_headless_backend", "save_figure", "show", "plot_curves", "curve_grid", "plot_sweep",
           "tick_labels", "log_ticks", "image_grid", "finish", "label_of", "mark_switch", "effect_sizes", "LABELS",
           "VERDICT_COLORS", "HOUSE_STYLE", "seed_range", "keep_labels_inside", "plt"]

#: axis labels for the history and table columns that figures plot (a raw column name is never a label)
LABELS = {
    "recon_mse": "reconstruction MSE",
    "utilization": "utilization",
    "perplexity": "perplexity",
    "dead_codes": "dead codes",
    "code_cosine_distance": "code spread (cos. distance)",
    "code_euclidean_distance": "code spread (distance)",
    "used_code_cosine_distance": "spread of used codes (cos. distance)",
    "code_effective_rank": "codebook effective rank",
    "embedding_effective_rank": "embedding effective rank",
    "embedding_euclidean_distance": "embedding spread (distance)",
    "shrinkage_euclidean": "codebook / embedding spread",
    "shrinkage_rank": "codebook / embedding effective rank",
    "quantization_error": "quantization error",
    "coverage": "components covered",
    "T_c %": "$T_c$ (% of the steps)",
    "K": "codebook size K",
    "relative_scale": "codebook scale / data spread",
    "step": "step",
}


def label_of(column: str) -> str:
    """The axis label of a column: :data:`LABELS`, else the name with underscores as spaces."""
    return LABELS.get(column, column.replace("_", " "))


def finish(fig, title: str | None = None, legend_from=None, ncol: int | None = None, fontsize=None) -> None:
    """Lay a figure out so nothing is clipped or covered: the title on top, then (``legend_from``: an axes whose
    legend entries to use) one figure-wide legend in a row above the panels instead of on top of a panel's
    data, the panels below, and room along the bottom edge for :func:`save_figure`'s provenance line."""
    height = fig.get_figheight()
    legend_top, reserved = 1.0 - 0.06 / height, 0.0
    if title:
        fig.suptitle(title, y=legend_top, va="top")
        legend_top -= 0.32 / height  # tight_layout keeps the axes below a suptitle by itself
    if legend_from is not None:
        handles, labels = legend_from.get_legend_handles_labels()
        if legend_from.get_legend() is not None:
            legend_from.get_legend().remove()
        columns = ncol or len(labels)
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, legend_top), ncol=columns,
                   frameon=False, fontsize=fontsize or plt.rcParams["legend.fontsize"])
        reserved = (0.06 + 0.26 * -(-len(labels) // columns) + 0.04) / height
    fig.tight_layout(rect=(0, 0.16 / height, 1, 1.0 - reserved))


def use_headless_backend() -> None:
    """Draw off-screen (matplotlib's Agg backend), for scripts run on a desktop; notebooks do not need it."""
    matplotlib.use("Agg")


#: the house style on top of seaborn's "whitegrid" theme: readable small fonts, a light grid, no top/right spines,
#: matplotlib's ten colours for anything without a colour of its own, and fixed salts so that files are
#: byte-identical from run to run
HOUSE_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "vqlib",
    "pdf.fonttype": 42,
}


def set_style() -> None:
    """The house style as a seaborn theme (:data:`HOUSE_STYLE` over seaborn's "whitegrid", palette tab10)."""
    sns.set_theme(context="paper", style="whitegrid", palette="tab10", rc=HOUSE_STYLE)


def _color(colors: dict | None, label, i: int):
    return (colors or {}).get(label, f"C{i % 10}")


def seed_range(values):
    """The error bar of every statistical view: from the smallest to the largest value over seeds (seaborn's
    ``errorbar``). With 3 to 5 seeds a bootstrap interval would mostly restate the extremes, and a range shows
    every seed honestly. The ends take in the mean, which for equal values can pass their max by a rounding error
    (matplotlib refuses a negative error bar)."""
    mean = values.mean()
    return min(values.min(), mean), max(values.max(), mean)


def _long(groups: dict, metric: str, x: str):
    """One long table of the histories in ``groups`` (label -> one history per seed): columns x, metric, seed
    and group, the label carrying the number of seeds ("deferred (n=5)") where there are several."""
    import pandas as pd

    def name(label, frames):
        return f"{label} (n={len(frames)})" if len(frames) > 1 else str(label)

    return pd.concat([f[[x, metric]].assign(seed=j, group=name(label, frames))
                      for label, frames in groups.items() for j, f in enumerate(frames)], ignore_index=True)


def plot_curves(ax, groups: dict, metric: str, x: str = "step", ylabel: str | None = None,
                colors: dict | None = None, linestyle: str = "-") -> None:
    """One line per group: the mean over seeds of ``metric`` against ``x``, with a band from the minimum
    to the maximum over seeds (seaborn's ``lineplot`` with :func:`seed_range`). ``groups`` maps a label to a
    list of history DataFrames (one per seed); NaN entries (e.g. code metrics during a continuous phase) are
    left out. ``colors`` maps labels to colours (others take the colour cycle); ``linestyle`` draws every
    line of the call (e.g. one style per dataset). The legend entries are lines named "label (n=seeds)"."""
    table = _long(groups, metric, x)
    names = list(dict.fromkeys(table["group"]))
    palette = {n: _color(colors, label, i) for i, (n, label) in enumerate(zip(names, groups))}
    sns.lineplot(data=table, x=x, y=metric, hue="group", hue_order=names, palette=palette, estimator="mean",
                 errorbar=seed_range, err_kws={"alpha": 0.2, "linewidth": 0}, legend=False, linestyle=linestyle,
                 ax=ax)
    for n in names:  # legend entries of their own, which figure-wide legends (finish) collect from the axes
        ax.plot([], [], color=palette[n], linestyle=linestyle, label=n)
    ax.set_xlabel(label_of(x))
    ax.set_ylabel(ylabel or label_of(metric))


def curve_grid(rows: dict, panels: list[tuple[str, str]], colors: dict | None = None, log_y: tuple = (),
               unit_line: tuple = (), panel_size: tuple[float, float] = (4.0, 3.2), legend_size=None,
               switch: int | dict | None = None):
    """A grid of :func:`plot_curves` panels: one row per entry of ``rows`` (row name -> groups of histories;
    a single row may be named ""), one column per (metric, label) of ``panels``. Metrics in ``log_y`` get a
    log axis, those in ``unit_line`` a dotted line at 1 (ratios); ``switch`` (a step, or row name -> step)
    marks the deferred arm's switch T_c on every panel. The first panel carries the legend entries (font size
    ``legend_size``, default the style's), with the number of seeds per row where the rows differ ("n=5/3");
    :func:`finish` moves them above the panels.
    Returns (fig, axes) with axes [rows, columns]."""
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(panel_size[0] * len(panels), panel_size[1] * len(rows)),
                             squeeze=False)
    for row, (name, groups) in enumerate(rows.items()):
        step = switch.get(name) if isinstance(switch, dict) else switch
        for ax, (metric, label) in zip(axes[row], panels):
            plot_curves(ax, groups, metric, ylabel=f"{name}: {label}" if name else label, colors=colors)
            if metric in log_y:
                ax.set_yscale("log")
            if metric in unit_line:
                ax.axhline(1.0, ls=":", color="0.5", lw=1)
            if step is not None:
                mark_switch(ax, step, label=row == 0 and ax is axes[0, 0])
    if isinstance(switch, dict) and len(set(switch.values())) > 1:  # one legend entry, each row's T_c in it
        for line in axes[0, 0].get_lines():
            if line.get_label().startswith("switch of the deferred arm"):
                line.set_label("switch of the deferred arm ($T_c$: "
                               + ", ".join(f"{name} {step}" for name, step in switch.items()) + ")")
    # The legend comes from the first row; where rows hold different numbers of seeds, say each (n=5/3).
    counts: dict = {}
    for groups in rows.values():
        for group, frames in groups.items():
            counts.setdefault(group, []).append(len(frames))
    for line in axes[0, 0].get_lines():
        base = line.get_label().split(" (n=")[0]
        if len(set(counts.get(base, []))) > 1:
            line.set_label(f"{base} (n={'/'.join(str(n) for n in counts[base])})")
    axes[0, 0].legend(fontsize=legend_size)
    return fig, axes


def mark_switch(ax, step: int, label: bool = False) -> None:
    """A dashed vertical line at the deferred arm's switch step T_c (labelled for the legend when ``label``)."""
    ax.axvline(step, ls="--", color="0.55", lw=0.8, zorder=0,
               label=f"switch of the deferred arm ($T_c$ = {step})" if label else None)


def plot_sweep(ax, table, x: str, metric: str, group: str | None = None, logx: bool = False,
               ylabel: str | None = None, colors: dict | None = None, xlabel: str | None = None,
               color=None, label: str | None = None, point_colors: dict | None = None) -> None:
    """Mean of ``metric`` against ``x`` over seeds with error bars from min to max (seaborn's ``lineplot``,
    ``err_style="bars"``), one line per ``group`` value; ``colors`` maps group values to colours (others take the
    colour cycle). Without a ``group``, one line in ``color`` (default C0) named ``label`` in the legend.
    ``point_colors`` maps x values to the colour of the marker drawn there (e.g. the arm each x value stands for:
    T_c = 0 is the early baseline). The x ticks sit at the swept values, in one notation per axis
    (:func:`tick_labels`)."""
    if logx:  # before drawing, so that seaborn places the points on the log axis
        ax.set_xscale("log")
    names = [None] if group is None else list(dict.fromkeys(table[group]))
    palette = {n: _color(colors, n, i) if n is not None else (color or "C0") for i, n in enumerate(names)}
    for n in names:
        sub = table if n is None else table[table[group] == n]
        sns.lineplot(data=sub, x=x, y=metric, estimator="mean", errorbar=seed_range, err_style="bars",
                     err_kws={"capsize": 2, "elinewidth": 1}, marker="o", markersize=4, markeredgewidth=0,
                     color=palette[n], legend=False, ax=ax)
        ax.plot([], [], marker="o", ms=4, color=palette[n], label=str(n) if n is not None else label)
        if point_colors:
            means = sub.groupby(x)[metric].mean().sort_index()
            ax.scatter(means.index, means.values, s=30, zorder=3, lw=0.5, edgecolors="0.2",
                       c=[point_colors.get(v, palette[n]) for v in means.index])
    _ticks_at(ax, sorted(table[x].unique()))
    ax.set_xlabel(xlabel or label_of(x))
    ax.set_ylabel(ylabel or label_of(metric))


def _plain(v: float) -> str:
    """A number in plain positional notation, never as 1e+06: '0.001', '16', '4096', '1000000'."""
    import numpy as np

    return np.format_float_positional(float(v), trim="-")


def _power(v: float, base: int) -> int | None:
    """n where v is base**n exactly (n an integer), else None."""
    if v <= 0:
        return None
    n = round(math.log(v, base))
    return n if math.isclose(base ** n, v, rel_tol=1e-9) else None


#: the largest value whose powers-of-two sweeps :func:`tick_labels` still writes as plain numbers
PLAIN_UP_TO = 1000


def tick_labels(values) -> list[str]:
    """Labels of ticks at ``values``, in one notation for the whole axis: powers of two (2^n) when every value is
    one and the largest passes :data:`PLAIN_UP_TO` (64 ... 4096 reads better as 2^6 ... 2^12); powers of ten
    (10^n) when every value is one and a plain number would be long (below 0.001 or above 10^5); else plain
    numbers ('0.01', '4', '16', '256')."""
    values = [float(v) for v in values]
    if not values:
        return []
    if max(values) > PLAIN_UP_TO and all(_power(v, 2) is not None for v in values):
        return [f"$2^{{{_power(v, 2)}}}$" for v in values]
    if (min(values) < 1e-3 or max(values) > 1e5) and all(_power(v, 10) is not None for v in values):
        return [f"$10^{{{_power(v, 10)}}}$" for v in values]
    return [_plain(v) for v in values]


def _ticks_at(ax, values) -> None:
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.set_xticklabels(tick_labels(values))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def log_ticks(ax, axis: str = "x", least: int = 3) -> None:
    """Readable ticks on a log axis: at 1, 2 and 5 times the powers of ten (or 1 and 3, or the powers alone: the
    finest of them that gives at most eight ticks in view), labelled as plain numbers ('0.02', '0.05', '0.1'),
    so that every log panel carries at least ``least`` labelled ticks instead of one; a span too narrow for that
    gets round steps as on a linear axis (0.026, 0.028, ...). Call it after the data are drawn (it reads the
    axis' limits)."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    low, high = min(low, high), max(low, high)
    for candidate in ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,)):
        ticks = [m * 10.0 ** e for e in range(math.floor(np.log10(low)) - 1, math.ceil(np.log10(high)) + 1)
                 for m in candidate]
        shown = [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
        subs = candidate
        if len(shown) <= 8:
            break
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=30))
    target.set_major_formatter(FuncFormatter(lambda v, _: _plain(float(f"{v:.6g}"))))
    target.set_minor_formatter(NullFormatter())
    if len(shown) < least:
        # a span too narrow even for 1-2-5 (under a factor of about 2.5), where a log axis is nearly linear: round
        # steps as on a linear one
        from matplotlib.ticker import MaxNLocator

        target.set_major_locator(MaxNLocator(nbins=least + 1, steps=[1, 2, 2.5, 5, 10]))


#: verdict colours of the claims figures
VERDICT_COLORS = {"agrees": "#2ca02c", "disagrees": "#d62728", "inconclusive": "0.55"}


def effect_sizes(table, band: float = 0.05):
    """A forest plot of a claims table's ratio effects (rows with a difference effect are left out): one row
    per claim, the effect on a log axis with its interval (solid: a bootstrap 95 % interval; dotted: a min-max
    range over fewer seeds), coloured by verdict, the marker pointing the way the paper expects (right: higher;
    left: lower; diamond: equal), the equality band shaded. Returns (fig, ax).

    The one statistical view drawn without seaborn: its rows are claims, not observations, and their intervals
    come computed by :mod:`vqlib.studies.claims` (a bootstrap over seeds, or a min-max range) with a style per
    row, where seaborn's ``pointplot`` would recompute one kind of interval from raw values."""
    import numpy as np

    rows = table[table["effect"] == "ratio"].reset_index(drop=True)
    # a row's label can be long (notebook, claim and "[runs not finished]"): the figure widens with the longest,
    # so that the axis keeps about 5 inches beside the labels
    longest = max((len(f"{r.get('notebook', '')} · {r['claim']} [runs not finished] [one seed changes it]")
                   for _, r in rows.iterrows()), default=60)
    fig, ax = plt.subplots(figsize=(max(9.0, 5.0 + 0.068 * longest), 0.26 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    markers = {"higher": ">", "lower": "<", "equal": "D"}
    for yi, (_, row) in zip(y, rows.iterrows()):
        low, high = (float(v) for v in row["interval"].strip("[]").split(","))
        color = VERDICT_COLORS[row["verdict"]]
        # a bootstrap 95 % interval (5 seeds or more) as a solid line; a min-max range over fewer seeds, which is
        # no confidence interval, dotted and thin
        bootstrap = str(row["interval kind"]).startswith("bootstrap")
        ax.hlines(yi, low, high, color=color, lw=1.5 if bootstrap else 1.0, ls="-" if bootstrap else ":")
        ax.plot(row["effect size"], yi, markers[row["expected"]], color=color, ms=6,
                mfc=color if row["source"] == "the paper" else "white")
    ax.axvspan(1 - band, 1 / (1 - band), color="0.85", lw=0, zorder=0)
    ax.axvline(1.0, color="0.4", lw=0.8)
    ax.set_xscale("log")
    # a row whose runs had not finished learning says so in its label (its effect is a gap at a budget)
    # ... and one whose verdict one seed changes says that it is within noise
    labels = [(f"{row['notebook']} · {row['claim']}" if "notebook" in rows else row["claim"])
              + (" [runs not finished]" if row.get("finished") == "no" else "")
              + (" [one seed changes it]" if row.get("one seed out") == "changes" else "")
              for _, row in rows.iterrows()]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    log_ticks(ax, "x")
    ax.set_xlabel("effect: first / second\n(log scale; grey band: equal within 5 %)")
    for verdict, color in VERDICT_COLORS.items():
        ax.plot([], [], "s", color=color, label=verdict)
    for expected, marker in markers.items():  # a legend entry for each marker the rows draw
        if (rows["expected"] == expected).any():
            ax.plot([], [], marker, color="0.3", label=f"paper expects {expected}")
    ax.plot([], [], ">", color="0.3", mfc="white", label="implied, not reported by the paper")
    kinds = rows["interval kind"].astype(str)
    if kinds.str.startswith("bootstrap").any():
        ax.plot([], [], "-", color="0.3", lw=1.5, label="bootstrap 95 % interval (5+ seeds)")
    if (~kinds.str.startswith("bootstrap")).any():
        ax.plot([], [], ":", color="0.3", lw=1.0, label="min-max range (fewer seeds)")
    return fig, ax


def keep_labels_inside(fig, ax, margin: float = 0.015) -> None:
    """Shift ``ax`` right until its y tick labels keep ``margin`` of the figure's width free on the left: the
    layout can leave the longest label of a forest a few pixels past the edge (text is measured at the screen's
    resolution, saved at another). Call it after :func:`finish`."""
    fig.canvas.draw()
    left, free = min(label.get_window_extent().x0 for label in ax.get_yticklabels()), margin * fig.bbox.width
    if left < free:
        box, shift = ax.get_position(), (free - left) / fig.bbox.width
        ax.set_position([box.x0 + shift, box.y0, box.width - shift, box.height])


def image_grid(batch, columns: int, gap: int = 2):
    """Tile images [N, 3, H, W] in [-1, 1] into one uint8 RGB array, ``columns`` per row, white gaps."""
    import numpy as np

    from ..pixels import to_uint8

    tiles = to_uint8(batch)
    n, h, w, _ = tiles.shape
    canvas = np.full((-(-n // columns) * (h + gap), columns * (w + gap), 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return canvas


def save_figure(fig, name: str, provenance: str, scale: str = "default") -> Path:
    """Write ``fig`` as ``<figures>/<name>.png`` and ``.pdf`` with a provenance line and fixed metadata.

    ``provenance`` names the data and scale that produced the figure. It is printed along the bottom edge,
    so the figure carries it wherever it goes; paths inside the repository are shown relative to it.
    Metadata that would change from run to run (software version, creation date) is left out, so an
    unchanged figure is byte-identical. Non-default scales go to ``figures/<scale>/`` so tests never
    overwrite the committed gallery.
    Returns the PNG path.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem like '01_usage', got {name!r}")
    if not provenance:
        raise ValueError("provenance must say which data and scale produced the figure")
    out = paths.figures_dir(scale)
    out.mkdir(parents=True, exist_ok=True)
    provenance = paths.relative_text(provenance)
    fig.text(0.005, 0.003, f"{provenance} | scale: {scale}", fontsize=6, color="0.4", ha="left", va="bottom")
    png = out / f"{name}.png"
    pdf = out / f"{name}.pdf"
    atomic_write(png, lambda f: fig.savefig(f, format="png", metadata={"Software": None}))
    atomic_write(pdf, lambda f: fig.savefig(f, format="pdf", metadata={"CreationDate": None, "ModDate": None,
                                                                      "Producer": None, "Creator": None}))
    return png


def show(png: Path) -> None:
    """Show a figure written by :func:`save_figure` in the notebook - the file itself, provenance line
    included, exactly as ``figures/`` holds it - and close every open figure, so the notebook does not draw
    it a third time. Outside IPython it only closes the figures."""
    plt.close("all")
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return
    if get_ipython() is not None:
        display(Image(filename=str(png)))

