"""The figures of notebook 02 (collapse on real images): one function per figure, from the study's runs and the
views :mod:`vqlib.studies.real_images` computes of them to ``figures/02_<name>.png`` (and ``.pdf``); each returns
the PNG's path for :func:`vqlib.plotting.show`. Captions come from :func:`vqlib.studies.real_images.caption`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns

from ..studies import real_images as study
from ..studies.arms import ARMS, BASELINE, DEFERRED, INITIALIZATION_ARMS, colors
from ..studies.context import Context
from ..studies.core import Runs
from ..studies.settings import CIFAR10
from .codebooks import codes_over_embeddings
from .core import curve_grid, finish, image_grid, log_ticks, mark_switch, plot_curves, plot_sweep, plt, save_figure

__all__ = ["converged_curves", "usage_over_training", "usage_histograms", "codebook_size", "capacity", "shrinkage",
           "tsne", "reconstructions"]

#: a sorted-usage panel with at most this many used codes marks each with a dot (a step one code wide is invisible)
MARKED_CODES = 5


def _num_codes(available: dict[str, study.Dataset]) -> int:
    return available[CIFAR10].base.model.num_codes


def converged_curves(runs: Runs, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """02_converged: the long CIFAR-10 runs (:mod:`vqlib.studies.converged`) whole, one row per K: utilization,
    perplexity, spread ratio and reconstruction error of both arms (mean over seeds, min-max band), the deferred
    arm's switch, the sweeps' shorter budget, and the last quarter of the steps over which a run must have
    stopped changing to count as finished learning."""
    from ..studies import converged
    from ..studies.core import FINISH_WINDOW

    panels = [("utilization", "utilization"), ("perplexity", "perplexity"),
              ("shrinkage_euclidean", "code / embedding spread"), ("recon_mse", "reconstruction MSE")]
    rows = {f"K={k}": runs.histories("arm_label", size=size) for size, (k, _) in converged.sizes(ctx).items()}
    steps = runs.results[0].spec.train.steps
    fig, axes = curve_grid(rows, panels, colors(), log_y=("perplexity", "recon_mse"),
                           unit_line=("shrinkage_euclidean",), panel_size=(4.3, 3.1), legend_size=7,
                           switch=DEFERRED.t_c(steps))
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(plt.MaxNLocator(5, integer=True))
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0"))
        ax.axvline(ctx.scale.image_steps, ls=":", color="0.2", lw=1,
                   label=f"the sweeps' budget ({ctx.scale.image_steps:,} steps)" if ax is axes[0, 0] else None)
        ax.axvspan(steps * (1 - FINISH_WINDOW), steps, color="0.9", lw=0, zorder=0,
                   label="last quarter: finished if it changes < 5 % here" if ax is axes[0, 0] else None)
    for ax in axes[:, 1]:
        log_ticks(ax, "y")
    finish(fig, f"CIFAR-10 at {steps:,} steps: has the baseline finished learning?", legend_from=axes[0, 0])
    return save_figure(fig, "02_converged", converged.caption(runs, available[CIFAR10].source), ctx.name)


def usage_over_training(arms: Runs, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Utilization, perplexity, code spread and reconstruction error over training, one row per dataset, one line
    per initialization arm (mean over seeds, min-max band), the deferred arm's switch marked."""
    panels = [("utilization", "utilization"), ("perplexity", "perplexity"),
              ("code_cosine_distance", "code spread (cos.)"), ("recon_mse", "reconstruction MSE")]
    fig, axes = curve_grid({name: arms.histories("arm_label", dataset=name) for name in available}, panels, colors(),
                           log_y=("recon_mse",), panel_size=(4, 3.1), legend_size=7,
                           switch=DEFERRED.t_c(ctx.scale.image_steps))
    finish(fig, f"Usage over training, K={_num_codes(available)}, d={available[CIFAR10].base.model.latent_dim}",
           legend_from=axes[0, 0])
    return save_figure(fig, "02_usage_over_training", study.caption("usage_over_training", available, ctx), ctx.name)


def usage_histograms(arms: Runs, usages: dict, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Sorted code usage (log scale, dead codes not drawn) of every initialization arm on every dataset, seed
    :data:`~vqlib.studies.real_images.VIEW_SEED` (``usages``: :func:`vqlib.studies.real_images.sorted_usages`),
    each arm in its own colour."""
    num_codes = _num_codes(available)
    fig, axes = plt.subplots(len(available), len(INITIALIZATION_ARMS),
                             figsize=(3.4 * len(INITIALIZATION_ARMS), 2.8 * len(available)), squeeze=False, sharey=True)
    for row, name in enumerate(available):
        for col, arm_id in enumerate(INITIALIZATION_ARMS):
            ax = axes[row, col]
            result = arms.one(dataset=name, arm=arm_id, seed=study.VIEW_SEED)
            usage = usages[name][arm_id]
            used = usage[usage > 0]
            # seaborn's histogram of the code ranks weighted by their usage, as one filled step outline, not a bar
            # per code: the same picture, drawn in a fraction of the time
            color = ARMS[arm_id].color  # the arm's own colour, as in every figure
            sns.histplot(x=np.arange(len(used)) + 0.5, weights=used, binwidth=1, binrange=(0, len(used)),
                         element="step", fill=True, color=color, alpha=1.0, linewidth=0, ax=ax)
            if len(used) <= MARKED_CODES:
                ax.plot(np.arange(len(used)) + 0.5, used, "o", ms=7, color=color, clip_on=False)
            ax.set_yscale("log")
            ax.set_xlim(0, num_codes)
            ax.set_title(f"{name} · {ARMS[arm_id].label}", fontsize=8)
            ax.text(0.97, 0.95, f"{len(used)}/{num_codes} used\nperplexity {result.final['perplexity']:.0f}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=7)
            ax.set_xlabel("code rank")
        axes[row, 0].set_ylabel("usage $p_k$")
    fig.tight_layout()
    return save_figure(fig, "02_usage_histograms", study.caption("usage_histograms", available, ctx), ctx.name)


def codebook_size(sizes: Runs, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Reconstruction error, perplexity, utilization and code spread against K (CIFAR-10), both arms."""
    table = sizes.table
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for ax, metric in zip(axes, ["recon_mse", "perplexity", "utilization", "code_cosine_distance"]):
        plot_sweep(ax, table, "K", metric, group="arm_label", logx=True, colors=colors())
    axes[1].set_yscale("log", base=2)
    finish(fig, f"Codebook size, CIFAR-10, {ctx.scale.image_steps} steps", legend_from=axes[0])
    return save_figure(fig, "02_codebook_size", study.caption("codebook_size", available, ctx), ctx.name)


def capacity(runs: Runs, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Embedding effective rank, reconstruction error and utilization against the encoder's channels (top) and
    residual blocks (bottom), CIFAR-10, both arms."""
    table = runs.table
    shown = [("embedding_effective_rank", "embedding effective rank"), ("recon_mse", "reconstruction MSE"),
             ("utilization", "utilization")]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for row, knob in enumerate(["channels", "res blocks"]):
        for ax, (metric, label) in zip(axes[row], shown):
            plot_sweep(ax, table[table.knob == knob], "value", metric, group="arm_label", ylabel=label,
                       colors=colors())
            ax.set_xlabel(knob)
    finish(fig, f"Encoder capacity, CIFAR-10, K={_num_codes(available)}", legend_from=axes[0, 0])
    return save_figure(fig, "02_capacity", study.caption("capacity", available, ctx), ctx.name)


def shrinkage(arms: Runs, pca: dict, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Codebook / embedding spread and effective-rank ratio over training (baseline and deferred, one line style
    per dataset), then the CIFAR-10 PCA views of both arms (``pca``: :func:`vqlib.studies.real_images.pca_views`)."""
    palette = colors()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for name, style in zip(available, ["-", "--"]):
        for arm in (BASELINE, DEFERRED):
            for ax, metric in zip(axes[:2], ["shrinkage_euclidean", "shrinkage_rank"]):
                label = f"{name} · {arm.label}"
                plot_curves(ax, {label: arms.histories("arm", dataset=name)[arm.id]}, metric,
                            colors={label: palette[arm.id]}, linestyle=style)
    for ax in axes[:2]:
        ax.axhline(1.0, ls=":", color="0.5", lw=1)
        mark_switch(ax, DEFERRED.t_c(ctx.scale.image_steps), label=ax is axes[0])
    axes[0].set_ylabel("codebook / embedding spread")
    axes[1].set_ylabel("codebook / embedding effective rank")
    for ax, arm in zip(axes[2:], (BASELINE, DEFERRED)):
        codes_over_embeddings(ax, pca[arm.id], style="tokens", legend="counts",
                              title=f"{CIFAR10} · {arm.label}: PCA of embeddings and codes")
        ax.legend(fontsize=6, loc="lower right")
    finish(fig, legend_from=axes[0], fontsize=7)
    return save_figure(fig, "02_shrinkage", study.caption("shrinkage", available, ctx), ctx.name)


def tsne(maps: dict, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """The CIFAR-10 t-SNE maps of embeddings and codes of both arms (``maps``:
    :func:`vqlib.studies.real_images.tsne_views`)."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    for ax, arm in zip(axes, (BASELINE, DEFERRED)):
        view = maps[arm.id]
        codes_over_embeddings(ax, view, style="tokens", legend="names")
        ax.set_title(f"{CIFAR10} · {arm.label}: {view.num_used} codes used", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    finish(fig, f"t-SNE of token embeddings and codes, K={_num_codes(available)}", legend_from=axes[0])
    return save_figure(fig, "02_tsne", study.caption("tsne", available, ctx), ctx.name)


def reconstructions(rows: dict, available: dict[str, study.Dataset], ctx: Context) -> Path:
    """Evaluation originals over their reconstructions by the baseline and by deferral, one block per dataset
    (``rows``: :func:`vqlib.studies.real_images.reconstruction_rows`)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 3.1 * len(rows)), squeeze=False)
    for ax, (name, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_grid(images, study.RECONSTRUCTED_IMAGES[name]), interpolation="nearest")
        ax.set_yticks([(i + 0.5) * ax.get_images()[0].get_array().shape[0] / 3 for i in range(3)],
                      ["original", "early", "deferred"])
        ax.set_xticks([])
        ax.grid(False)
        ax.set_title(name)
    fig.tight_layout()
    return save_figure(fig, "02_reconstructions", study.caption("reconstructions", available, ctx), ctx.name)
