"""Notebook 01: codebook collapse on Gaussian mixtures.

- :mod:`~vqlib.studies.mixture.study`: the spec list of every figure, what the figures show of the runs, the
  tables under them and the claims (by section; the claims table is their concatenation);
- :mod:`~vqlib.studies.mixture.facts`: the facts each section's prose states (``<section>_facts``), with the
  verdicts of its claims, for :func:`vqlib.studies.prose.say`.

Everything is read from here: ``mixture.usage_cases(ctx)``, ``mixture.usage_table(usage)``,
``mixture.usage_facts(usage)``.
"""

from .facts import *  # noqa: F403
from .facts import __all__ as _facts
from .study import *  # noqa: F403
from .study import __all__ as _study

__all__ = [*_study, *_facts]
