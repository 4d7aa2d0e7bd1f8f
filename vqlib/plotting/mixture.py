"""Notebook 01's figures: one function per figure, from the study's runs (:mod:`vqlib.studies.mixture`) to the
figure's file. Each draws, saves with :func:`~vqlib.plotting.core.save_figure` and returns the PNG path, for
``show(plots.usage_over_training(usage, ctx))``; what a figure shows of the runs (projections, views, grids) is
computed by the study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ..data import prepare
from ..studies import ARMS, BASELINE, COLORS, DEFERRED, mixture, views
from ..studies.context import Context
from ..studies.core import Runs
from .codebooks import codes_over_embeddings, scatter_points
from .core import curve_grid, finish, mark_switch, plot_curves, plot_sweep, plt, save_figure

__all__ = ["shrinkage_picture", "tsne", "usage_over_training", "init_scale", "capacity", "codebook_size",
           "shrinkage_over_training", "toy_theory", "phase_diagram"]

#: the columns of the shrinkage picture
PICTURE_COLUMNS = ("data", "recon · early", "recon · deferred", "emb + codes · early", "emb + codes · deferred",
                   "untrained encoder", "trained encoder", "untrained, zoomed")


def _dims(dims) -> str:
    return ", ".join(map(str, dims))


def _seeds(ctx: Context) -> str:
    return f"seeds {mixture.seeds(ctx)}"


def _codes_panel(ax, view, coverage: float, labels, title: str) -> None:
    codes_over_embeddings(ax, view, style="components", labels=labels, title=title, dead_color="0.5")
    ax.text(0.02, 0.02, f"{view.num_used}/{len(view.used)} codes used · coverage {coverage:.0%}",
            transform=ax.transAxes, fontsize=7, va="bottom")


def shrinkage_picture(picture: Runs, ctx: Context) -> Path:
    """Data, reconstructions, embeddings and codes of the baseline and deferral, and the untrained encoder's
    outputs beside the trained one's, at every D of the picture (one row each)."""
    columns, dims = PICTURE_COLUMNS, mixture.PICTURE_DIMS
    fig, axes = plt.subplots(len(dims), len(columns), figsize=(2.1 * len(columns), 2.2 * len(dims)))
    for row, dim in enumerate(dims):
        panels = mixture.picture_row(picture, dim)
        labels = panels.labels
        scatter_points(axes[row, 0], panels.data, labels, f"D={dim}: data")
        for col, arm in ((1, BASELINE), (2, DEFERRED)):
            scatter_points(axes[row, col], panels.reconstructions[arm.id], labels, columns[col])
            axes[row, col].set_xlim(axes[row, 0].get_xlim()), axes[row, col].set_ylim(axes[row, 0].get_ylim())
        for col, arm in ((3, BASELINE), (4, DEFERRED)):
            _codes_panel(axes[row, col], panels.codebooks[arm.id], panels.coverage[arm.id], labels, columns[col])
        for col, emb, spread in ((5, panels.untrained, panels.spreads[0]), (6, panels.trained, panels.spreads[1])):
            scatter_points(axes[row, col], emb, labels, columns[col])
            axes[row, col].text(0.02, 0.02, f"spread {spread:.2f}", transform=axes[row, col].transAxes, fontsize=7)
        lim = axes[row, 6].get_xlim(), axes[row, 6].get_ylim()
        axes[row, 5].set_xlim(lim[0]), axes[row, 5].set_ylim(lim[1])
        # the same untrained embeddings in their own principal plane and scale: their shape, not only their size
        scatter_points(axes[row, 7], panels.untrained_own, labels, columns[7])
        axes[row, 7].text(0.02, 0.02, f"zoomed {panels.zoom:.0f}x", transform=axes[row, 7].transAxes, fontsize=7)
    model = picture.one(D=dims[-1], arm=BASELINE).spec.model
    finish(fig, "Early quantization (k-means on the untrained encoder, EMA) vs deferred quantization; "
           f"K={model.num_codes}, d={model.latent_dim}")
    return save_figure(fig, "01_shrinkage_picture", "Gaussian mixture 10 x "
                       f"{ctx.scale.mixture_points_per_component}, D = {_dims(dims)}; seed 0", ctx.name)


def tsne(picture: Runs, ctx: Context) -> Path:
    """The picture's embeddings and codes above 2-D in one t-SNE map per run (``Scale.tsne_points`` points)."""
    points = ctx.scale.tsne_points
    dims = [d for d in mixture.PICTURE_DIMS if d > 2]
    fig, axes = plt.subplots(len(dims), 2, figsize=(7.6, 3.4 * len(dims)), squeeze=False)
    for row, dim in enumerate(dims):
        for col, arm in enumerate((BASELINE, DEFERRED)):
            result = picture.one(D=dim, arm=arm)
            data = prepare(result.spec.data)
            view = views.tsne_view(result, data.eval, max_points=points)
            codes_over_embeddings(axes[row, col], view, style="components", labels=data.eval_labels[view.picked],
                                  title=f"D={dim} · {arm.label}", legend="names", dead_color="0.4")
    model = picture.one(D=mixture.PICTURE_DIMS[-1], arm=BASELINE).spec.model
    finish(fig, f"t-SNE of embeddings (colour: mixture component) and codes, K={model.num_codes}",
           legend_from=axes[0, 0])
    return save_figure(fig, "01_tsne", "Gaussian mixture 10 x "
                       f"{ctx.scale.mixture_points_per_component}, D = {_dims(dims)}; seed 0; "
                       f"{points} embeddings per map", ctx.name)


def usage_over_training(usage: Runs, ctx: Context) -> Path:
    """Utilization, perplexity, code spread and reconstruction error over training, the four arms."""
    panels = [("utilization", "utilization"), ("perplexity", "perplexity"),
              ("code_cosine_distance", "code spread (cos.)"), ("recon_mse", "reconstruction MSE")]
    study = usage.results[0].spec
    fig, axes = curve_grid({"": usage.histories("arm_label")}, panels, COLORS, log_y=("recon_mse",),
                           switch=DEFERRED.t_c(study.train.steps))
    finish(fig, f"Usage over training, K={study.model.num_codes}, D={study.data.dim}", legend_from=axes[0, 0])
    return save_figure(fig, "01_usage_over_training", f"{prepare(study.data).source}; {_seeds(ctx)}", ctx.name)


def init_scale(init_scale: Runs, reference: Runs, ctx: Context) -> Path:
    """Utilization, coverage and perplexity of a random-normal codebook (the early-normal arm) against its scale,
    with the baseline and deferral as lines and the untrained encoder's spread marked; every arm in its own
    colour."""
    spread = mixture.spreads(ctx)
    table = init_scale.table
    (swept,) = {ARMS[a] for a in table["arm"]}  # the early-normal arm, its codebook's scale swept
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, metric in zip(axes, ["utilization", "coverage", "perplexity"]):
        plot_sweep(ax, table, "relative_scale", metric, logx=True, color=COLORS[swept.id],
                   label=f"{swept.label} (scale swept)")
        for arm in (BASELINE, DEFERRED):
            ax.axhline(np.mean(reference.values(metric, arm=arm)), ls="--", color=COLORS[arm.id], lw=1,
                       label=arm.label)
        ax.axvline(spread["untrained_encoder"] / spread["data"], ls=":", color="0.3", lw=1,
                   label="untrained-encoder spread")
        ax.set_xlabel("codebook std / data spread")
    study = init_scale.results[0].spec
    finish(fig, f"Random-normal codebook scale, early quantization, K={study.model.num_codes}", legend_from=axes[0])
    return save_figure(fig, "01_init_scale", f"{prepare(study.data).source}; seeds {mixture.sweep_seeds(ctx)}; "
                       f"{ctx.scale.sweep_steps} steps", ctx.name)


def capacity(capacity: Runs, ctx: Context) -> Path:
    """Effective rank, spread, coverage and reconstruction error against encoder depth (top) and width
    (bottom), both arms."""
    table = mixture.capacity_frame(capacity)
    shown = [("embedding_effective_rank", "embedding effective rank"), ("embedding spread", "embedding spread"),
             ("coverage", "coverage"), ("recon_mse", "reconstruction MSE")]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6))
    depth_rows, width_rows = table[table.width == 64], table[table.depth == 2]
    for col, (metric, label) in enumerate(shown):
        plot_sweep(axes[0, col], depth_rows, "depth", metric, group="arm_label", ylabel=label, colors=COLORS)
        axes[0, col].set_xticks(range(5), ["linear", "1", "2", "3", "4"])
        plot_sweep(axes[1, col], width_rows, "width", metric, group="arm_label", logx=True, ylabel=label,
                   colors=COLORS)
    axes[0, 0].legend()
    axes[0, 3].set_yscale("log"), axes[1, 3].set_yscale("log")
    study = capacity.results[0].spec
    finish(fig, f"Encoder capacity: depth (width 64, top) and width (depth 2, bottom); K={study.model.num_codes}",
           legend_from=axes[0, 0])
    return save_figure(fig, "01_capacity", f"{prepare(study.data).source}; seeds {mixture.sweep_seeds(ctx)}; "
                       f"{ctx.scale.sweep_steps} steps", ctx.name)


def codebook_size(sizes: Runs, ctx: Context) -> Path:
    """Utilization, perplexity, coverage and reconstruction error against K, both arms."""
    table = sizes.table
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for ax, metric in zip(axes, ["utilization", "perplexity", "coverage", "recon_mse"]):
        plot_sweep(ax, table, "K", metric, group="arm_label", logx=True, colors=COLORS)
    ks = list(mixture.CODEBOOK_SIZES)
    axes[1].plot(ks, ks, ls=":", color="0.5", lw=1, label="perplexity = K")
    axes[1].set_yscale("log")
    axes[3].set_yscale("log")
    axes[1].legend(fontsize=7, loc="upper left")
    finish(fig, "Codebook size K (C = 10 components)", legend_from=axes[0])
    source = prepare(sizes.results[0].spec.data).source
    return save_figure(fig, "01_codebook_size", f"{source}; seeds {mixture.sweep_seeds(ctx)}; "
                       f"{ctx.scale.sweep_steps} steps", ctx.name)


def shrinkage_over_training(shrinkage: Runs, ctx: Context) -> Path:
    """Codebook / embedding spread ratios over training (top) and what they are ratios of (bottom)."""
    panels = [("shrinkage_euclidean", "codebook / embedding\nspread (Euclidean)"),
              ("shrinkage_cosine", "codebook / embedding\nspread (cosine)"),
              ("shrinkage_rank", "codebook / embedding\neffective rank"), ("utilization", "utilization")]
    study = shrinkage.results[0].spec
    switch = DEFERRED.t_c(study.train.steps)
    curves = shrinkage.histories("arm_label")
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.4))
    # top: the ratios; bottom: what they are ratios of, so "the codebook shrinks" and "it fails to follow growing
    # embeddings" can be told apart, and the 99 %-components effective dimension of codebook and embeddings
    absolute = [("code_euclidean_distance", "codebook spread (distance)"),
                ("embedding_euclidean_distance", "embedding spread (distance)"),
                ("code_components_99", "codebook: components for 99 % var."),
                ("embedding_components_99", "embeddings: components for 99 % var.")]
    for ax, (metric, label) in zip(axes.flat, panels + absolute):
        plot_curves(ax, curves, metric, ylabel=label, colors=COLORS)
        if metric.startswith("shrinkage"):
            ax.axhline(1.0, ls=":", color="0.5", lw=1)
        mark_switch(ax, switch, label=ax is axes[0, 0])
    finish(fig, f"Shrinkage over training, C={study.data.num_components}, D={study.data.dim}, "
           f"K={study.model.num_codes}", legend_from=axes[0, 0])
    return save_figure(fig, "01_shrinkage_over_training", f"{prepare(study.data).source}; {_seeds(ctx)}", ctx.name)


def toy_theory(picture: Runs, ctx: Context) -> Path:
    """The entropy of the codes over the modes at every D, both arms, against the ceiling log C."""
    dims = mixture.PICTURE_DIMS
    entropy = mixture.mode_entropies(picture)
    arms = (BASELINE, DEFERRED)
    table = pd.DataFrame([{"D": f"D = {d}", "arm": arm.label, "entropy": entropy[arm.id][i]}
                          for arm in arms for i, d in enumerate(dims)])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    # one run per bar (seed 0, the picture's): no error bar
    sns.barplot(data=table, x="D", y="entropy", hue="arm", palette={a.label: COLORS[a.id] for a in arms},
                errorbar=None, width=0.76, ax=ax)
    ax.set_xlabel("")
    num_modes = prepare(picture.results[0].spec.data).num_components
    ax.axhline(np.log(num_modes), ls="--", color="0.3", lw=1, label=f"log C (codes spread over all {num_modes} modes)")
    ax.set_ylabel("entropy of codes over modes (nats)")
    finish(fig, "Toy theory: the diversity the codebook allows", legend_from=ax, ncol=2)
    return save_figure(fig, "01_toy_theory", "Gaussian mixture 10 x "
                       f"{ctx.scale.mixture_points_per_component}, D = {_dims(dims)}; seed 0", ctx.name)


def _span(low: float, high: float) -> str:
    """'200-215', or one number where both ends round alike."""
    a, b = f"{low:.0f}", f"{high:.0f}"
    return a if a == b else f"{a}-{b}"


def phase_diagram(phase: Runs, ctx: Context) -> Path:
    """Three slices through the mixture's settings, each against the separation of the modes: the baseline's
    utilization and coverage, and deferral's perplexity over the baseline's (seed against seed)."""
    grids = mixture.phase_grids(phase)
    spreads = mixture.phase_spreads(ctx)
    labels = {"D": ("input dimension D", [str(v) for v in mixture.PHASE_DIMS]),
              "K_per_C": ("codes per component K / C", [str(v) for v in mixture.PHASE_CODES_PER_COMPONENT]),
              "gain": ("untrained encoder's output scale (data spread / its spread)",
                       [f"x{g:g} ({_span(spreads[g].min(), spreads[g].max())})" for g in mixture.PHASE_GAINS])}
    fixed = {"D": f"K / C = {mixture.PHASE_K_PER_C}",
             "K_per_C": f"D = {mixture.PHASE_DIM}",
             "gain": f"D = {mixture.PHASE_DIM}, K / C = {mixture.PHASE_K_PER_C}"}
    panels = [("utilization", "baseline utilization", "viridis", (0, 1)),
              ("coverage", "baseline coverage (components with a code)", "viridis", (0, 1)),
              ("gain", "perplexity, deferred / baseline", "magma", None)]
    fig, axes = plt.subplots(len(mixture.PHASE_SLICES), len(panels), figsize=(14, 10.5))
    for row, (column, _) in enumerate(mixture.PHASE_SLICES):
        xlabel, ticks = labels[column]
        for ax, (name, title, cmap, limits) in zip(axes[row], panels):
            table = grids[column][name]
            vmin, vmax = limits or (None, None)
            # seaborn's annotated heatmap; the separations upward, as on a y axis
            values = table.to_numpy()
            sns.heatmap(values, annot=np.vectorize(lambda v: f"{v:.2f}" if v < 10 else f"{v:.0f}")(values), fmt="",
                        annot_kws={"fontsize": 8}, cmap=cmap, vmin=vmin, vmax=vmax, cbar_kws={"fraction": 0.046},
                        xticklabels=ticks, yticklabels=[f"{r:g}" for r in mixture.PHASE_RATIOS], ax=ax)
            ax.invert_yaxis()
            ax.tick_params(axis="y", rotation=0)
            ax.set_xlabel(f"{xlabel}; {fixed[column]}", fontsize=8)
            ax.set_ylabel("closest means / component std")
            ax.set_title(title, fontsize=9)
    finish(fig, "Where early quantization collapses: 10-component mixture, mean over seeds "
           f"{mixture.sweep_seeds(ctx)}, each seed its own placement of the means")
    return save_figure(fig, "01_phase_diagram", f"Gaussian mixture 10 x {ctx.scale.sweep_points // 10}, std "
                       f"{mixture.PHASE_STD}, closest means {', '.join(f'{r:g}' for r in mixture.PHASE_RATIOS)} std "
                       f"apart; seeds {mixture.sweep_seeds(ctx)}; {ctx.scale.sweep_steps} steps", ctx.name)
