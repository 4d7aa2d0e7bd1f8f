"""What the notebooks share, defined once: the arm registry, the named base specs, each figure's spec list
per scale, the generation pipeline and the claims table.

A notebook cell is: take the study's cases at this scale -> :func:`run_cases` -> plot. Modules:

- :mod:`~vqlib.studies.arms`: every arm by short id, with its label, colour and family;
- :mod:`~vqlib.studies.settings`: base specs more than one notebook uses (mixtures, CIFAR-10 and ImageNet
  tokenizers, training budgets);
- :mod:`~vqlib.studies.core`: :class:`Case`, :func:`run_cases`, :class:`Runs` (tables and curves);
- :mod:`~vqlib.studies.claims`: :class:`Claim` and :func:`claims_table`, one verdict rule for all notebooks;
- :mod:`~vqlib.studies.views`: what the figures show of a trained model (embeddings, codes, usage);
- :func:`begin`: what every notebook does first (scale, house style, table display);
- one module per notebook: :mod:`~vqlib.studies.mixture` (01), :mod:`~vqlib.studies.real_images` (02; its
  long runs in :mod:`~vqlib.studies.converged`),
  :mod:`~vqlib.studies.fixes` (03), :mod:`~vqlib.studies.generation` (04), :mod:`~vqlib.studies.diagnosis` (05);
  :mod:`~vqlib.studies.summary`
  gathers every notebook's claims.
"""

from . import converged, diagnosis, fixes, generation, mixture, real_images, registry, settings, summary, views
from .arms import ARMS, BASELINE, DEFERRED, INITIALIZATION_ARMS, Arm, arm, colors
from .claims import EQUAL_TOLERANCE, Claim, claims_table
from .context import Context, context
from .core import Case, Runs, arm_case, run_cases
from .notebook import begin
from .prose import say
from .settings import CIFAR10, IMAGENET, MIXTURE

#: the colour of every arm, by id and by label
COLORS = colors()

__all__ = ["ARMS", "INITIALIZATION_ARMS", "BASELINE", "DEFERRED", "COLORS", "Arm", "arm", "colors", "Claim",
           "claims_table", "EQUAL_TOLERANCE", "Context", "context", "Case", "Runs", "arm_case", "run_cases", "begin",
           "say", "MIXTURE", "CIFAR10", "IMAGENET", "settings", "views", "mixture", "real_images", "fixes",
           "generation", "summary", "diagnosis", "registry", "converged"]
