"""The shape of the library: no import cycle between vqlib's modules, no module over 600 lines, and matplotlib only in
vqlib.plotting (DESIGN.md: data flows one way; the library never draws outside plotting)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vqlib"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def imports(module: str) -> set[str]:
    """Every vqlib module ``module`` imports, at module level or inside functions (a function-level import is a
    dependency too: it runs)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(module, path.name == "__init__.py", node.level, node.module)
            else:
                target = node.module or ""
            # "from . import x" imports the submodule x when there is one; else a name of the package
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        found.update(n for n in names if n in MODULES and n != module)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        # A submodule reaching its own package (or a parent) is how Python loads packages, not a dependency:
        # the package's __init__ re-exports its submodules, so it is left out as a target from inside.
        graph[module] = {t for t in imports(module) if not module.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_in_vqlib():
    cycle = _cycle(_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)} (move the import, or the code, down a layer)"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_600_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines: split it by concern"


def test_only_vqlib_plotting_imports_matplotlib_at_module_level():
    offenders = []
    for module, path in MODULES.items():
        if module == "vqlib.plotting" or module.startswith("vqlib.plotting."):
            continue
        for node in ast.parse(path.read_text()).body:  # module level only: a lazy import inside plot() is fine
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "matplotlib" for n in names):
                offenders.append(module)
    assert not offenders, f"{offenders} import matplotlib at module level; drawing belongs in vqlib.plotting"
