"""Notebook 02: collapse on real images (CIFAR-10 and ImageNet).

- :mod:`~vqlib.studies.real_images.study`: the datasets, the spec list of every figure, what the figures show of
  the runs, the tables under them and the claims (by section; the claims table is their concatenation);
- :mod:`~vqlib.studies.real_images.facts`: the numbers each section's prose states (``<section>_facts``), with
  the verdicts of its claims, for :func:`vqlib.studies.prose.say`.

Everything is read from here: ``real_images.arm_cases(data)``, ``real_images.usage_table(arms)``,
``real_images.usage_facts(arms, ctx)``.
"""

from .facts import *  # noqa: F403
from .facts import __all__ as _facts
from .facts import _verdict_across, _verdict_sentence  # noqa: F401  (tested directly)
from .study import *  # noqa: F403
from .study import __all__ as _study

__all__ = [*_study, *_facts]
