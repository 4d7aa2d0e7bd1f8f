"""Notebook 06's figures: the modern remedies early and deferred (:mod:`vqlib.studies.remedies`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data import prepare
from ..studies import remedies as study
from ..studies.arms import DEFERRED, colors
from ..studies.context import Context
from ..studies.core import Runs
from . import fixes
from .core import curve_grid, effect_sizes, finish, keep_labels_inside, log_ticks, save_figure

__all__ = ["arms", "claims", "long_runs", "PANELS", "LONG_PANELS"]

#: (metric, panel label) of the arms figure: usage, shrinkage, the effective dimension of codes and embeddings,
#: reconstruction
PANELS = [("utilization", "utilization"), ("perplexity", "perplexity"),
          ("shrinkage_euclidean", "codebook / embedding spread"), ("code_components_99", "codebook: 99 %-components"),
          ("embedding_components_99", "embeddings: 99 %-components"), ("recon_mse", "reconstruction MSE")]


def arms(runs: Runs, ctx: Context) -> Path:
    """06_remedies: every arm of :data:`~vqlib.studies.remedies.ARMS_SHOWN` (the baseline, deferral, each remedy
    early and deferred, vector-quantize-pytorch with and without its rotation trick) as points with min-max
    ranges, one row per dataset (notebook 03's figure, with the 99 %-components added)."""
    return fixes.arms(runs, ctx, which=study.ARMS_SHOWN, name="06_remedies", height=7.4, panels=PANELS,
                      title="Modern remedies, early and deferred", provenance=study.provenance(ctx))


#: (metric, label) of the long runs' curves
LONG_PANELS = [("utilization", "utilization"), ("perplexity", "perplexity"),
               ("shrinkage_euclidean", "codebook / embedding spread"), ("recon_mse", "reconstruction MSE")]


def long_runs(runs: Runs, ctx: Context) -> Path:
    """06_long_runs: the whole curves of the long reference runs (seed 0 at notebook 02's converged budget): the
    baseline, deferral, and :data:`~vqlib.studies.remedies.LONG_REMEDIES` early and deferred, each in its arm's
    colour; the deferred arms' switch marked."""
    steps = runs.results[0].spec.train.steps
    fig, axes = curve_grid({"": runs.histories("arm_label")}, LONG_PANELS, colors(),
                           log_y=("perplexity", "recon_mse"), unit_line=("shrinkage_euclidean",),
                           switch=DEFERRED.t_c(steps), panel_size=(4.2, 3.3))
    for ax in axes.flat:
        if ax.get_yscale() == "log":
            log_ticks(ax, "y")
    finish(fig, f"Long reference runs on CIFAR-10: {steps:,} steps, seed 0", legend_from=axes[0, 0], ncol=3)
    data = prepare(runs.results[0].spec.data).source.partition(",")[0]
    return save_figure(fig, "06_long_runs", f"{data}; whole training split; seed 0; {steps:,} steps", ctx.name)


def claims(table: pd.DataFrame, ctx: Context) -> Path:
    """06_claims: the effect-size forest of notebook 06's claims table (deferral added to each remedy; each
    remedy's early arm against the baseline)."""
    fig, ax = effect_sizes(table)
    finish(fig, "Does deferral add to a modern remedy? Does the remedy fix the spread?", legend_from=ax, ncol=3)
    keep_labels_inside(fig, ax)
    return save_figure(fig, "06_claims", study.provenance(ctx), ctx.name)
