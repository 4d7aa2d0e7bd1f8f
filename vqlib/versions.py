"""The versions that decide a result's last digits and a figure's pixels, recorded where results are kept.

Every executed notebook prints them at its top (:func:`vqlib.studies.begin`), every cache entry stores the
versions it was computed under, and loading an entry made under other versions warns, once per difference,
naming them: a figure drawn from such runs mixes numbers of two environments, which is allowed (they agree to
rounding) but never silent. ``VQLIB_FORCE=1`` recomputes instead. The locked environment
(``requirements.lock``, ``make setup``) keeps them the same from clone to clone.
"""

from __future__ import annotations

import importlib.metadata
import platform
import warnings

from . import arithmetic

__all__ = ["PACKAGES", "current", "describe", "differences", "warn_if_different"]

#: what the numbers and the pixels depend on
PACKAGES = ("torch", "numpy", "pandas", "matplotlib")

_warned: set[tuple] = set()


def current() -> dict[str, str]:
    """{"python": ..., "torch": ..., "numpy": ..., "pandas": ..., "matplotlib": ..., "cpu": ...} of this process;
    "cpu" is the instruction set torch's CPU kernels use (:mod:`vqlib.arithmetic`; "AVX2" when pinned)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["cpu"] = arithmetic.capability()
    return out


def describe(versions: dict[str, str] | None = None) -> str:
    """'python 3.11.7, torch 2.13.0+cpu, ...'"""
    return ", ".join(f"{k} {v}" for k, v in (versions or current()).items())


def differences(recorded: dict[str, str] | None) -> dict[str, tuple[str, str]]:
    """{package: (recorded, now)} for every package whose recorded version is not this process's (entries
    written before versions were recorded have none, and give none)."""
    if not recorded:
        return {}
    now = current()
    return {k: (v, now.get(k, "?")) for k, v in recorded.items() if now.get(k) != v}


def warn_if_different(recorded: dict[str, str] | None, what: str) -> None:
    """Warn (once per distinct difference) that ``what`` was computed under other versions."""
    diff = differences(recorded)
    if not diff:
        return
    key = tuple(sorted(diff.items()))
    if key in _warned:
        return
    _warned.add(key)
    said = ", ".join(f"{k} {old} (now {new})" for k, (old, new) in diff.items())
    warnings.warn(f"{what} was computed under {said}: its numbers may differ from this environment's in the last "
                  "digits, and figures drawn from it mix both (VQLIB_FORCE=1 recomputes; `make setup` installs the "
                  "locked versions)", stacklevel=3)
