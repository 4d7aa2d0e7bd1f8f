"""Every claim of notebooks 01-04 in one table, from their (cached) runs: what the summary figure draws.

Each notebook builds its own claims from the runs of its figures; :func:`all_claims` asks each registered study
(:mod:`~vqlib.studies.registry`) for exactly the same claims, from the same case lists, so at a scale whose
notebooks have run they all come from the cache.
"""

from __future__ import annotations

import pandas as pd

from .claims import claims_table
from .context import Context
from .registry import NOTEBOOKS

__all__ = ["all_claims", "verdict_counts"]


def all_claims(ctx: Context, **options) -> pd.DataFrame:
    """The claims tables of every notebook that has one, one under the other, with a ``notebook`` column (its
    short name). ``options`` reach the studies that take them (notebook 04's ``temperature`` and ``top_k``)."""
    tables = []
    for entry in NOTEBOOKS:
        if entry.has_claims:
            tables.append(claims_table(entry.study_claims(ctx, **options)).assign(notebook=entry.short))
    return pd.concat(tables, ignore_index=True)


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims of each notebook agree, are inconclusive or disagree: one row per notebook (in the table's
    order), one column per verdict that occurs."""
    return table.groupby("notebook", sort=False)["verdict"].value_counts().unstack(fill_value=0)
