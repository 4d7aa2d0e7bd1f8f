"""Notebook 03's figures: the fixes against each other on the mixture and CIFAR-10 (:mod:`vqlib.studies.fixes`).

Each function draws one figure from the study's runs, saves it (:func:`~vqlib.plotting.core.save_figure`, with a
provenance line naming the data and seeds) and returns the PNG's path, for :func:`~vqlib.plotting.core.show`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..studies import fixes as study
from ..studies.arms import colors
from ..studies.context import Context
from ..studies.core import Runs
from .core import curve_grid, finish, plot_sweep, plt, save_figure

__all__ = ["defer_fraction", "arms", "curves", "capacity"]

#: (metric, panel label) of the timing and arms figures
PANELS = [("utilization", "utilization"), ("perplexity", "perplexity"),
          ("shrinkage_euclidean", "codebook / embedding spread"), ("recon_mse", "reconstruction MSE")]
#: the families of the arms figure's legend, by the name it shows
FAMILIES = {"early quantization": "early", "deferred quantization": "deferred", "outside reference": "reference"}


def defer_fraction(runs: Runs, ctx: Context) -> Path:
    """03_defer_fraction: utilization, perplexity, spread ratio and reconstruction error against the length of
    the continuous phase (T_c, % of the budget), one row per dataset; mean and min-max over seeds."""
    timing = study.timing_table(runs)
    fig, axes = plt.subplots(2, 4, figsize=(15, 6))
    for row, dataset in enumerate(study.DATASETS):
        for ax, (metric, label) in zip(axes[row], PANELS):
            plot_sweep(ax, timing[timing.dataset == dataset], "T_c %", metric, ylabel=f"{dataset}: {label}")
        axes[row, 3].set_yscale("log")
    finish(fig, "Length of the continuous phase (same total steps)")
    where = study.sources(ctx)
    return save_figure(fig, "03_defer_fraction", f"{where.mixture}, D={where.dim}; {where.cifar}", ctx.name)


def _tick(arm) -> str:
    # beside the other lengths of the continuous phase, say the main deferred arm's
    return f"{arm.label} T_c={arm.t_c_percent}%" if arm == study.DEFERRED else arm.label


def arms(runs: Runs, ctx: Context) -> Path:
    """03_arms: every arm of :data:`~vqlib.studies.fixes.FIX_ARMS` as a bar (mean over seeds, line: min to
    max) coloured by family, four metrics, one row per dataset."""
    fix_arms = study.FIX_ARMS
    ticks = [_tick(a) for a in fix_arms]
    fig, axes = plt.subplots(2, 4, figsize=(16, 9), sharey=True)
    for row, dataset in enumerate(study.DATASETS):
        for ax, (metric, label) in zip(axes[row], PANELS):
            stats = study.arm_stats(runs, dataset, metric)
            y = np.arange(len(fix_arms))
            ax.barh(y, stats["mean"], color=[a.family_color for a in fix_arms], alpha=0.8)
            ax.hlines(y, stats["min"], stats["max"], color="k", lw=1)
            ax.set_yticks(y, ticks, fontsize=7)
            ax.set_title(f"{dataset}: {label}", fontsize=9)
            if metric in ("perplexity", "shrinkage_euclidean", "recon_mse"):
                ax.set_xscale("log")  # linear axes hid every deferred bar beside early normal's
                ax.xaxis.set_minor_formatter(plt.NullFormatter())
            if metric == "shrinkage_euclidean":
                ax.axvline(1.0, ls=":", color="0.3", lw=1)
    axes[0, 0].invert_yaxis()  # the y axis is shared: invert once, to list the arms top to bottom
    for name, family in FAMILIES.items():
        axes[0, 0].barh([0], [0], color=next(a.family_color for a in fix_arms if a.family == family),
                        alpha=0.8, label=name)
    finish(fig, legend_from=axes[0, 0])
    where = study.sources(ctx)
    return save_figure(fig, "03_arms", f"{where.mixture} ({where.mixture_seeds}); {where.cifar} ({where.cifar_seeds})",
                       ctx.name)


def curves(runs: Runs, ctx: Context) -> Path:
    """03_curves: utilization, spread ratio and reconstruction error over training for the main arms
    (:data:`~vqlib.studies.fixes.MAIN_ARMS`), one row per dataset."""
    panels = [("utilization", "utilization"), ("shrinkage_euclidean", "codebook /\nembedding spread"),
              ("recon_mse", "reconstruction MSE")]
    # log scale for the spread ratio: early normal's codebook is many times wider than the embeddings, the others
    # narrower or as wide
    fig, axes = curve_grid(study.main_histories(runs), panels, colors(), log_y=("recon_mse", "shrinkage_euclidean"),
                           unit_line=("shrinkage_euclidean",), panel_size=(13 / 3, 3))
    finish(fig, legend_from=axes[0, 0])
    where = study.sources(ctx)
    return save_figure(fig, "03_curves", f"{where.mixture}; {where.cifar}", ctx.name)


def capacity(capacity_runs: Runs, ctx: Context) -> Path:
    """03_capacity: embedding effective rank, utilization and reconstruction error against encoder width
    (mixture) and channels (CIFAR-10), baseline against deferral, at the end of training."""
    table = capacity_runs.table
    shown = [("embedding_effective_rank", "embedding effective rank"), ("utilization", "utilization"),
             ("recon_mse", "reconstruction MSE")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6))
    for row, (dataset, (knob, _)) in enumerate(study.CAPACITY.items()):
        for ax, (metric, label) in zip(axes[row], shown):
            plot_sweep(ax, table[table.dataset == dataset], "value", metric, group="arm_label", logx=True,
                       ylabel=f"{dataset}: {label}", colors=colors())
            ax.set_xlabel(knob)
    finish(fig, legend_from=axes[0, 0])
    where = study.sources(ctx)
    return save_figure(fig, "03_capacity", f"{where.mixture}; {where.cifar}; end of training", ctx.name)
