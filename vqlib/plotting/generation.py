"""Notebook 04's figures: the samples of each tokenizer's prior, diversity against T_c, the controls, quality
against diversity, and the summary of every notebook's claims. Each function draws one figure from the study's
results (:class:`vqlib.studies.generation.Study`), saves it with :func:`~vqlib.plotting.core.save_figure` and
returns the PNG's path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from ..studies import generation
from ..studies.arms import ARMS
from ..studies.context import Context
from .core import effect_sizes, finish, image_grid, keep_labels_inside, plot_sweep, plt, save_figure

__all__ = ["samples", "diversity_vs_tc", "controls", "quality_vs_diversity", "summary_effects", "DIVERSITY_PANELS",
           "SOURCE_COLORS"]

#: the panels of the diversity figure, left to right
DIVERSITY_PANELS = ("token entropy", "distinct codes / sample", generation.PIXEL, generation.VENDI, generation.RECALL,
                    generation.FRECHET)
#: the colour of each image set in the controls figure
SOURCE_COLORS = {generation.SAMPLES: "#1f77b4", generation.RECONSTRUCTIONS: "#2ca02c", generation.UNIGRAM: "0.5"}


def _arm_colors(results: pd.DataFrame) -> dict:
    """The colour of the arm at each T_c % of a results table (T_c = 0: the early baseline)."""
    return {tc: ARMS[arm_id].color for tc, arm_id in results.groupby("T_c %")["arm"].first().items()}


def _per_set(study: generation.Study, what: str) -> str:
    """The provenance line of the figures over every tokenizer and seed."""
    return (f"{generation.source(study.ctx)}; seeds {study.seeds}; {study.ctx.scale.generated_samples} {what}")


def samples(study: generation.Study) -> Path:
    """The first samples of each tokenizer's seed-0 prior, under as many real held-out images."""
    panels = [("real held-out images", study.features.real[:generation.GRID_SAMPLES])] + list(study.grids.items())
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.5 * len(panels)))
    for ax, (title, batch) in zip(axes, panels):
        ax.imshow(image_grid(batch, 16), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, "04_samples", f"{generation.source(study.ctx)}; priors trained on tokenizer seed 0; "
                       f"temperature {study.temperature}, top-k {study.top_k}", study.ctx.name)


def diversity_vs_tc(study: generation.Study) -> Path:
    """Every diversity measure of the samples against the tokenizer's T_c (mean and range over seeds; each point
    in the colour of the tokenizer's arm), with the real held-out images' value where there is one and the real
    token maps' entropy."""
    results, reference = study.table, study.reference
    fig, axes = plt.subplots(1, len(DIVERSITY_PANELS), figsize=(3.3 * len(DIVERSITY_PANELS), 3.1))
    for ax, metric in zip(axes, DIVERSITY_PANELS):
        plot_sweep(ax, results, "T_c %", metric, color="0.55", point_colors=_arm_colors(results))
        if metric in reference:
            ax.axhline(reference[metric], ls=":", color="0.4", lw=1, label="real images")
            ax.legend(fontsize=7)
        if metric == "token entropy":
            ax.plot(results["T_c %"], results["real token entropy"], "x", color="0.4", ms=4, label="real token maps")
            ax.legend(fontsize=7)
    finish(fig, "Generated-sample diversity against the tokenizer's $T_c$ (0 = early quantization)")
    return save_figure(fig, "04_diversity_vs_tc", _per_set(study, "samples per prior"), study.ctx.name)


def controls(study: generation.Study) -> Path:
    """Each control measure on the three image sets (prior samples, reconstructions, unigram samples) against
    T_c, and the held-out NLL of the priors against the unigram models'."""
    measures, reference = generation.CONTROL_MEASURES, study.reference
    long = generation.controls_long(study.table)
    fig, axes = plt.subplots(1, len(measures) + 1, figsize=(3.4 * (len(measures) + 1), 3.2))
    for ax, metric in zip(axes, measures):
        plot_sweep(ax, long, "T_c %", metric, group="source", colors=SOURCE_COLORS)
        if metric in reference:
            ax.axhline(reference[metric], ls=":", color="0.4", lw=1, label="real held-out images")
    nll = generation.nll_by_tc(study.table)
    axes[-1].plot(nll.index, nll[generation.PRIOR_NLL], "o-", color="#1f77b4", ms=3, label="prior (held-out NLL)")
    axes[-1].plot(nll.index, nll[generation.UNIGRAM_NLL], "s--", color="0.5", ms=3, label="unigram (held-out NLL)")
    axes[-1].set_xticks(nll.index)
    axes[-1].set_xlabel("$T_c$ (% of the steps)")
    axes[-1].set_ylabel("nats per token (held out)")
    axes[-1].legend(fontsize=7)
    finish(fig, "Controls: prior samples between the unigram floor and the reconstruction ceiling",
           legend_from=axes[0])
    return save_figure(fig, "04_controls", _per_set(study, "images per set"), study.ctx.name)


def quality_vs_diversity(study: generation.Study) -> Path:
    """One point per tokenizer and seed: pixel distance against the Fréchet distance, and the tokenizer's
    reconstruction error against the samples' Vendi score, each tokenizer in its arm's colour (the baseline red,
    deferral in blues darkening with T_c), as in every figure."""
    results = study.table.assign(tokenizer=lambda t: t["arm"].map(lambda a: ARMS[a].label))
    palette = {ARMS[a].label: ARMS[a].color for a in results["arm"].unique()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (x, y) in zip(axes, ((generation.PIXEL, generation.FRECHET), ("tokenizer recon MSE", generation.VENDI))):
        sns.scatterplot(data=results, x=x, y=y, hue="tokenizer", palette=palette, s=40, linewidth=0,
                        legend=ax is axes[0], ax=ax)
    axes[0].set_xlabel("mean pairwise pixel distance (diversity)")
    axes[0].set_ylabel("Fréchet distance to real images\n(small-CNN features; lower = closer)")
    axes[1].set_xlabel("tokenizer reconstruction MSE (held out)")
    axes[1].set_ylabel("Vendi score (RBF) of samples\n(diversity)")
    axes[0].legend(fontsize=7, title=None)
    fig.tight_layout()
    return save_figure(fig, "04_quality_vs_diversity", f"{generation.source(study.ctx)}; one point per tokenizer "
                       "and seed", study.ctx.name)


def summary_effects(everything: pd.DataFrame, ctx: Context) -> Path:
    """Every notebook's claims (:func:`vqlib.studies.summary.all_claims`) as one forest of effect sizes."""
    fig, ax = effect_sizes(everything)
    numbers = sorted({str(name).split()[0] for name in everything["notebook"]})
    span = f"{numbers[0]}–{numbers[-1]}" if numbers else ""
    finish(fig, f"Every claim, notebooks {span} (scale {ctx.name})", legend_from=ax, ncol=3)
    keep_labels_inside(fig, ax)
    return save_figure(fig, "04_summary_effects", "Gaussian mixtures, CIFAR-10, the ImageNet stand-in (see each "
                       "notebook); seeds as in each notebook", ctx.name)
