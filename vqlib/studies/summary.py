"""Every claim of every notebook with a claims table (01-04, 06) in one table, from their (cached) runs: what
the summary figure draws.

Each notebook builds its own claims from the runs of its figures; :func:`all_claims` asks each registered study
(:mod:`~vqlib.studies.registry`) for exactly the same claims, from the same case lists, so at a scale whose
notebooks have run they all come from the cache.
"""

from __future__ import annotations

import pandas as pd

from .claims import Claim, claims_table
from .context import Context
from .registry import NOTEBOOKS

__all__ = ["all_claims", "distinct_claims", "verdict_counts"]


def all_claims(ctx: Context, **options) -> pd.DataFrame:
    """The claims tables of every notebook that has one, one under the other, with a ``notebook`` column (its
    short name), each measurement once: a claim that compares exactly the values an earlier notebook's claim
    compares (notebook 03 reuses the runs of 01 and 02) is that claim again, and is left out (see
    :func:`distinct_claims`). ``options`` reach the studies that take them (notebook 04's ``temperature`` and
    ``top_k``)."""
    per_notebook = [(entry.short, entry.study_claims(ctx, **options)) for entry in NOTEBOOKS if entry.has_claims]
    kept = distinct_claims(per_notebook)
    return pd.concat([claims_table(claims).assign(notebook=name) for name, claims in kept if claims],
                     ignore_index=True)


def distinct_claims(per_notebook: list[tuple[str, list[Claim]]]) -> list[tuple[str, list[Claim]]]:
    """Every claim whose compared values (first and second, per seed) no earlier claim compared: the same runs and
    the same measure, asked twice, count once (under the notebook that asked first)."""
    seen: set = set()
    out = []
    for name, claims in per_notebook:
        kept = []
        for claim in claims:
            measured = (tuple(claim.first), tuple(claim.second))
            if measured not in seen:
                seen.add(measured)
                kept.append(claim)
        out.append((name, kept))
    return out


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims of each notebook agree, are inconclusive or disagree: one row per notebook (in the table's
    order), one column per verdict that occurs."""
    return table.groupby("notebook", sort=False)["verdict"].value_counts().unstack(fill_value=0)
