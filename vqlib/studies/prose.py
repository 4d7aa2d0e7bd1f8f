"""Computed prose: every number a notebook's sentences state is rendered from the results.

A notebook's markdown cells hold the question, the setting and numbers cited from papers; a sentence that
states a measured number is a *template* filled from the study's results by :func:`say` in a code cell whose
input the site hides (cell tag ``remove-input``)::

    say(mixture.usage_facts(usage), '''
    **Here:** deferral uses {deferred.utilization:%.0} of its codes (perplexity {deferred.perplexity:.1f} of {K});
    fewer codes used under early quantization - **{claims.utilization.verdict}**.
    ''')

Fields are looked up in the facts (a mapping; dotted names and ``[key]`` reach into nested facts) and
formatted with Python's format specification, extended for prose:

- ``{x:.2f}`` as usual; ``{x:,}`` for thousands separators;
- ``{x:%.0}``: a percentage with a space and 0 decimals ("84 %"; ``%.1`` for one decimal);
- a list or tuple is formatted element by element and joined as a sentence lists things: "17, 8 and 10";
  ``{x:range .2f}`` gives its minimum and maximum as a range instead ("0.12–0.15", or one value when equal;
  ``{x:range %.0}``: "9–10 %");
- ``{x:times .1f}`` a ratio as a multiple ("4.5×");
- ``{x:chain .1f}`` a sequence as a chain of arrows ("5.5 → 7.7 → 9.2");
- a missing value (NaN, or a range of none) reads "n/a", whatever its format.

Verdict words come from the claims rows (:func:`claim_facts`), never typed: a template says
``{claims.coverage.verdict}``, and a change of the runs changes the word.
"""

from __future__ import annotations

import math
import string
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from .claims import Claim, effect_interval, verdict

__all__ = ["Facts", "facts", "render", "say", "claim_facts", "join"]


class Facts(dict):
    """A dict whose keys can also be read as attributes (``facts.deferred.utilization``), so that templates
    can use dotted fields; nested dicts are Facts too."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no fact {name!r}; the facts hold {sorted(self)}") from None

    def __missing__(self, key):
        raise KeyError(f"no fact {key!r}; the facts hold {sorted(self)}")


#: keys a template could never reach as ``{facts.key}``: the dict's own methods answer first
_SHADOWED = frozenset(name for name in dir(dict) if not name.startswith("_"))


def facts(mapping: Mapping | None = None, **values) -> Facts:
    """``mapping`` and ``values`` as :class:`Facts`, nested mappings included. A key named like a dict method
    (``values``, ``items``, ...) is an error: ``{facts.values}`` would read the method, not the fact."""
    out = Facts()
    for key, value in {**(mapping or {}), **values}.items():
        if str(key) in _SHADOWED:
            raise ValueError(f"a fact cannot be named {key!r}: templates would read dict.{key} instead; rename it")
        out[str(key)] = facts(value) if isinstance(value, Mapping) and not isinstance(value, Facts) else value
    return out


def join(items: Iterable[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


class _ProseFormatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        # dotted names and [key] go through Facts' attribute access; the error names the missing fact
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, spec: str) -> str:
        if spec.startswith("range"):
            values = [float(v) for v in value if not math.isnan(float(v))]
            if not values:
                return "n/a"
            low, high = min(values), max(values)
            inner = spec[len("range"):].strip()
            if inner.startswith("%"):  # one unit for the range: "9–10 %"
                decimals = int(inner[2:]) if inner.startswith("%.") else 0
                a, b = (f"{100 * v:.{decimals}f}" for v in (low, high))
                return f"{a} %" if a == b else f"{a}–{b} %"
            a, b = self.format_field(low, inner), self.format_field(high, inner)
            return a if a == b else f"{a}–{b}"
        if spec.startswith("chain"):
            return " → ".join(self.format_field(v, spec[len("chain"):].strip()) for v in value)
        if isinstance(value, (list, tuple)):
            return join(self.format_field(v, spec) for v in value)
        if isinstance(value, float) and math.isnan(value):
            return "n/a"
        if spec.startswith("times"):
            return f"{self.format_field(value, spec[len('times'):].strip())}×"
        if spec.startswith("%"):
            decimals = int(spec[2:]) if spec.startswith("%.") else 0
            return f"{100 * float(value):.{decimals}f} %"
        return super().format_field(value, spec)


_FORMATTER = _ProseFormatter()


def render(template: str, values: Mapping) -> str:
    """``template`` (dedented, stripped) with every ``{field:spec}`` filled from ``values``."""
    text = textwrap.dedent(template).strip()
    return _FORMATTER.vformat(text, (), values if isinstance(values, Facts) else facts(values))


def say(values: Mapping, template: str) -> None:
    """Display ``template`` filled from ``values`` as Markdown (in a notebook). Returns nothing, so that a cell
    ending in ``say(...)`` shows the prose once (a returned object would be shown a second time)."""
    from IPython.display import Markdown, display

    display(Markdown(render(template, values)))


def claim_facts(claims: Iterable[Claim]) -> Facts:
    """The row of every keyed claim, by its key: ``verdict`` (agrees / disagrees / inconclusive), ``effect``,
    ``low``, ``high`` (the interval), ``first``, ``second`` (the means), ``n``, ``expected``, ``text``,
    ``finished`` (yes / no / not checked)."""
    out = Facts()
    for claim in claims:
        if not claim.key:
            continue
        row = verdict(claim)
        interval = effect_interval(claim.first, claim.second) if row["effect"] else {"low": math.nan, "high": math.nan}
        low, high = interval["low"], interval["high"]
        out[claim.key] = facts(verdict=row["verdict"], effect=row["effect size"], low=low, high=high,
                               first=row["first"], second=row["second"], n=row["n"], expected=row["expected"],
                               text=row["claim"], kind=row["effect"], interval=row["interval kind"],
                               finished=row["finished"])
    return out

