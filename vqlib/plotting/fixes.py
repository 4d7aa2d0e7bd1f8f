"""Notebook 03's figures: the fixes against each other on the mixture and CIFAR-10 (:mod:`vqlib.studies.fixes`).

Each function draws one figure from the study's runs, saves it (:func:`~vqlib.plotting.core.save_figure`, with a
provenance line naming the data and seeds) and returns the PNG's path, for :func:`~vqlib.plotting.core.show`.
"""

from __future__ import annotations

from pathlib import Path

import seaborn as sns

from ..studies import fixes as study
from ..studies.arms import colors
from ..studies.context import Context
from ..studies.core import Runs
from .core import curve_grid, finish, log_ticks, plot_sweep, plt, save_figure, seed_range

__all__ = ["defer_fraction", "arms", "timing_or_reinit", "curves", "capacity"]

#: (metric, panel label) of the timing and arms figures
PANELS = [("utilization", "utilization"), ("perplexity", "perplexity"),
          ("shrinkage_euclidean", "codebook / embedding spread"), ("recon_mse", "reconstruction MSE")]
#: the families of the arms figure's legend, by the name it shows
FAMILIES = {"early quantization": "early", "deferred quantization": "deferred", "outside reference": "reference"}
#: the metrics of the arms figure on log axes (perplexity, spread ratio and error span orders of magnitude)
LOG_METRICS = ("perplexity", "shrinkage_euclidean", "recon_mse")
#: the metrics that are shares in [0, 1] (their axis spans the whole range)
SHARES = ("utilization", "coverage")
#: the marker of each family in the arms figure (the colour is the arm's own, the same in every figure)
FAMILY_MARKERS = {"early": "o", "deferred": "s", "reference": "D"}


def defer_fraction(runs: Runs, ctx: Context) -> Path:
    """03_defer_fraction: utilization, perplexity, spread ratio and reconstruction error against the length of
    the continuous phase (T_c, % of the budget), one row per dataset; mean and min-max over seeds, each point in
    the colour of the arm it is (T_c = 0: the early baseline)."""
    timing = study.timing_table(runs)
    arm_colors = {a.t_c_percent: a.color for a in study.TIMING}
    fig, axes = plt.subplots(2, 4, figsize=(15, 6))
    for row, dataset in enumerate(study.DATASETS):
        for ax, (metric, label) in zip(axes[row], PANELS):
            plot_sweep(ax, timing[timing.dataset == dataset], "T_c %", metric, ylabel=f"{dataset}: {label}",
                       color="0.55", point_colors=arm_colors)
        axes[row, 3].set_yscale("log")
        log_ticks(axes[row, 3], "y")
    finish(fig, "Length of the continuous phase (same total steps)")
    where = study.sources(ctx)
    return save_figure(fig, "03_defer_fraction", f"{where.mixture}, D={where.dim}; {where.cifar}", ctx.name)


def _tick(arm) -> str:
    # beside the other lengths of the continuous phase, say the main deferred arm's
    return f"{arm.label} T_c={arm.t_c_percent}%" if arm == study.DEFERRED else arm.label


def timing_or_reinit(runs: Runs, ctx: Context) -> Path:
    """03_timing_or_reinit: is it the timing or the re-initialization? The baseline, early quantization with
    dead-code re-initialization, deferral, and both together, on the four measures of :func:`arms`."""
    return arms(runs, ctx, which=study.REINIT_ARMS, name="03_timing_or_reinit", height=4.6,
                title="Is it the timing or the re-initialization?")


def arms(runs: Runs, ctx: Context, which=None, name: str = "03_arms", height: float = 9.0,
         title: str | None = None, panels=None, provenance: str | None = None) -> Path:
    """03_arms: every arm of :data:`~vqlib.studies.fixes.FIX_ARMS` (or ``which``) as a point (mean over seeds)
    with its range (line: min to max over seeds; seaborn's ``pointplot``) in the arm's own colour, the marker saying
    its family; four metrics, one row per dataset. Perplexity, spread ratio and reconstruction error on log axes,
    where only positions mean something, hence points and not bars. ``panels``: other (metric, label) columns
    (default :data:`PANELS`); ``provenance``: the figure's own (default: notebook 03's datasets and seeds)."""
    fix_arms = which or study.FIX_ARMS
    panels = panels or PANELS
    ids = [a.id for a in fix_arms]
    fig, axes = plt.subplots(2, len(panels), figsize=(4 * len(panels), height), sharey=True)
    for row, dataset in enumerate(study.DATASETS):
        table = runs.table[(runs.table.dataset == dataset) & runs.table.arm.isin(ids)]
        for ax, (metric, label) in zip(axes[row], panels):
            sns.pointplot(data=table, x=metric, y="arm", order=ids, hue="arm", hue_order=ids,
                          palette={a.id: a.color for a in fix_arms},
                          markers=[FAMILY_MARKERS[a.family] for a in fix_arms],
                          linestyles="none", estimator="mean", errorbar=seed_range, capsize=0.3,
                          err_kws={"linewidth": 1.5}, markersize=6, markeredgecolor="0.25", markeredgewidth=0.6,
                          legend=False, orient="h", ax=ax)
            ax.set_yticks(range(len(fix_arms)), [_tick(a) for a in fix_arms], fontsize=7)
            ax.set_ylabel("")
            ax.set_xlabel("")
            ax.set_title(f"{dataset}: {label}", fontsize=9)
            # the log axis after drawing: seaborn would average on a log axis in log space (a geometric mean)
            if metric in LOG_METRICS:  # linear axes hid every deferred point beside early normal's
                ax.set_xscale("log")
                ax.margins(x=0.08)
                log_ticks(ax, "x")
            elif metric in SHARES:  # a share of the codes: the whole range, so 0 and 1 read at a glance
                ax.set_xlim(-0.04, 1.04)
            if metric == "shrinkage_euclidean":
                ax.axvline(1.0, ls=":", color="0.3", lw=1)
    axes[0, 0].set_ylim(len(fix_arms) - 0.4, -0.6)  # the y axis is shared: the arms top to bottom, in table order
    for family_name, family in FAMILIES.items():
        if any(a.family == family for a in fix_arms):
            axes[0, 0].plot([], [], FAMILY_MARKERS[family], color="0.6", mec="0.25", mew=0.6, ms=6,
                            label=family_name)
    finish(fig, title, legend_from=axes[0, 0])
    where = study.sources(ctx)
    return save_figure(fig, name, provenance or f"{where.mixture} ({where.mixture_seeds}); {where.cifar} "
                       f"({where.cifar_seeds})", ctx.name)


def curves(runs: Runs, ctx: Context) -> Path:
    """03_curves: over training, for the main arms (:data:`~vqlib.studies.fixes.MAIN_ARMS`), one row per dataset:
    utilization; the codebook's and the embeddings' absolute spreads (mean pairwise distance) and their ratio, so
    that a ratio's change can be read as the codes' or the embeddings'; the embeddings' 99 %-components (do they
    narrow?); reconstruction error. The deferred arm's switch T_c is marked on every panel."""
    panels = [("utilization", "utilization"), ("code_euclidean_distance", "code spread\n(distance)"),
              ("embedding_euclidean_distance", "embedding spread\n(distance)"),
              ("shrinkage_euclidean", "codebook /\nembedding spread"),
              ("embedding_components_99", "embedding\n99 %-components"), ("recon_mse", "reconstruction MSE")]
    switch = {dataset: study.DEFERRED.t_c(runs.select(dataset=dataset).results[0].spec.train.steps)
              for dataset in study.DATASETS}
    # log scales: early normal's codebook is many times wider than the embeddings, the others narrower or as wide
    fig, axes = curve_grid(study.main_histories(runs), panels, colors(),
                           log_y=("recon_mse", "shrinkage_euclidean", "code_euclidean_distance",
                                  "embedding_euclidean_distance"),
                           unit_line=("shrinkage_euclidean",), panel_size=(3.3, 3), switch=switch)
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
