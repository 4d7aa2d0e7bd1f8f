"""Figures: one house style, deterministic figure files, and every figure the notebooks draw. The only package
of vqlib that imports matplotlib.

- :mod:`~vqlib.plotting.core`: the house style (a seaborn theme), :func:`save_figure`, :func:`show`, and the
  statistical views every study uses (seaborn's curves over training with seed bands and sweeps with ranges, the
  effect-size forest); the other modules draw with seaborn too (pointplot, heatmap, histplot, barplot, ...);
- one module per kind of picture the studies draw (codebooks over their embeddings, usage, reconstructions, ...),
  each a function from a study's results to a figure, so that a notebook cell is one call.

Importing it leaves matplotlib's backend alone: notebooks keep their inline backend, and on a machine without a
display matplotlib picks its non-interactive Agg backend by itself. A script that must not open windows on a
desktop can call :func:`use_headless_backend` first. Arm colours come from :mod:`vqlib.studies` (``colors=``),
so that an arm looks the same in every figure.
"""

from .core import (
                   HOUSE_STYLE,
                   LABELS,
                   VERDICT_COLORS,
                   curve_grid,
                   effect_sizes,
                   finish,
                   image_grid,
                   keep_labels_inside,
                   label_of,
                   log_ticks,
                   mark_switch,
                   plot_curves,
                   plot_sweep,
                   plt,
                   save_figure,
                   seed_range,
                   set_style,
                   show,
                   tick_labels,
                   use_headless_backend,
)

__all__ = ["set_style", "use_headless_backend", "save_figure", "show", "plot_curves", "curve_grid", "plot_sweep",
           "tick_labels", "log_ticks", "image_grid", "finish", "label_of", "mark_switch", "effect_sizes", "LABELS",
           "VERDICT_COLORS", "HOUSE_STYLE", "seed_range", "keep_labels_inside", "plt"]
