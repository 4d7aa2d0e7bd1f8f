"""Every claim of notebooks 01-04 in one table, from their (cached) runs: what the summary figure draws.

Each notebook builds its own claims from the runs of its figures; :func:`all_claims` asks for exactly the same
runs (the same case lists), so at a scale whose notebooks have run they all come from the cache.
"""

from __future__ import annotations

import pandas as pd

from ..scales import get_scale
from . import fixes, generation, mixture, real_images
from .claims import claims_table
from .core import run_cases

__all__ = ["all_claims", "NOTEBOOKS"]

NOTEBOOKS = ("01 mixture", "02 real images", "03 fixes", "04 generation")


def all_claims(scale=None, cifar_root: str | None = None, imagenet_root: str | None = None,
               temperature: float = 1.0, top_k: int | None = None) -> pd.DataFrame:
    """The claims tables of the four notebooks, one under the other, with a ``notebook`` column."""
    s = get_scale(scale)
    tables = {}
    picture, usage = run_cases(mixture.picture_cases(s)), run_cases(mixture.usage_cases(s))
    capacity, sizes = run_cases(mixture.capacity_cases(s)), run_cases(mixture.codebook_size_cases(s))
    shrinkage = run_cases(mixture.shrinkage_cases(s))
    tables[NOTEBOOKS[0]] = claims_table(mixture.claims(picture, usage, capacity, sizes, shrinkage))

    available, _ = real_images.datasets(s, cifar_root, imagenet_root)
    tables[NOTEBOOKS[1]] = claims_table(real_images.claims(
        run_cases(real_images.arm_cases(available)), run_cases(real_images.codebook_size_cases(s, cifar_root)),
        run_cases(real_images.capacity_cases(s, cifar_root))))

    tables[NOTEBOOKS[2]] = claims_table(fixes.claims(run_cases(fixes.arm_cases(s, cifar_root)),
                                                     run_cases(fixes.capacity_cases(s, cifar_root))))

    features = generation.feature_net(s, cifar_root)
    results, _ = generation.results(features, s, temperature, top_k, cifar_root)
    tables[NOTEBOOKS[3]] = claims_table(generation.claims(results))
    return pd.concat([t.assign(notebook=name) for name, t in tables.items()], ignore_index=True)
