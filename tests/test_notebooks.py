"""Structure every notebook must keep so that papermill, nbval, jupytext and `make figures` work as documented."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import jupytext
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def _cells(notebook) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


def test_every_notebook_is_a_script_paired_with_its_executed_notebook():
    assert len(SOURCES) >= 4
    executed = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert [p.stem for p in executed] == [p.stem for p in SOURCES]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_the_executed_notebook_is_in_sync_with_its_script(path):
    script = jupytext.read(path)
    executed = jupytext.read(path.with_suffix(".ipynb"))
    assert script.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert _cells(executed) == _cells(script), (
        f"{path.name} and {path.with_suffix('.ipynb').name} differ: the .py is the source; run `make sync` "
        "(keeps outputs) or `make figures` (re-executes)")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_comes_first_and_reads_the_scale_from_the_environment(path):
    code = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    assignments = [line for line in code[0].source.splitlines() if "=" in line and not line.startswith("#")]
    assert assignments[0].startswith('scale = os.environ.get("VQLIB_SCALE", "default")')
    # An injected-parameters cell left in a committed notebook would pin the scale and defeat VQLIB_SCALE.
    cells = json.loads(path.with_suffix(".ipynb").read_text())["cells"]
    assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)


# ---- Thin notebooks: a code cell is parameters, one call, a plot, or prose (DESIGN.md, "Notebooks as reports") ----

#: what a notebook's code may not contain: every computation, loop and branch lives in vqlib.studies / vqlib.plotting
FORBIDDEN_NODES = {
    ast.FunctionDef: "a function definition", ast.AsyncFunctionDef: "a function definition",
    ast.ClassDef: "a class definition", ast.Lambda: "a lambda", ast.For: "a loop", ast.AsyncFor: "a loop",
    ast.While: "a loop", ast.ListComp: "a loop (comprehension)", ast.SetComp: "a loop (comprehension)",
    ast.DictComp: "a loop (comprehension)", ast.GeneratorExp: "a loop (generator)", ast.If: "a branch",
    ast.IfExp: "a branch", ast.Try: "a try block", ast.Slice: "a selection by position (slice)",
}
#: calls that pick or pair results by position, split strings or rebuild what a study builds
FORBIDDEN_CALLS = {"zip", "enumerate", "range", "split", "RunSpec", "ModelSpec", "TrainSpec", "MixtureSpec",
                   "ImageSpec", "PriorSpec", "Claim", "replace", "manual_seed", "to_csv"}
#: the code cells of all notebooks together hold at most this many lines of code (prose templates excluded)
MAX_CODE_LINES = 400


def _code_cells(path):
    return [c for c in jupytext.read(path).cells if c.cell_type == "code"]


def _problems(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        what = next((w for t, w in FORBIDDEN_NODES.items() if isinstance(node, t)), None)
        if what:
            found.append(f"line {node.lineno}: {what}" if hasattr(node, "lineno") else what)
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: a call to {name}()")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_code_is_parameters_calls_plots_and_prose(path):
    bad = []
    for number, cell in enumerate(_code_cells(path)[1:], start=2):  # the parameters cell may branch on the scale
        problems = _problems(cell.source)
        if problems:
            first = cell.source.strip().splitlines()[0]
            bad.append(f"code cell {number} ({first!r}): {'; '.join(problems)}")
    assert not bad, (f"{path.name} computes in its code cells; move it into vqlib.studies (a study function) or "
                     "vqlib.plotting (a figure), select runs by arm / K / seed, never by position:\n  "
                     + "\n  ".join(bad))


def _code_lines(source: str) -> int:
    """Lines holding code: not blank, not comments, not inside a multi-line string (a prose template)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENDMARKER):
            continue
        if token.type == tokenize.STRING and token.start[0] != token.end[0]:
            continue  # a multi-line string is prose (a template); the code around it counts on its own lines
        lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def test_the_notebooks_hold_at_most_400_lines_of_code():
    counts = {p.name: sum(_code_lines(c.source) for c in _code_cells(p)) for p in SOURCES}
    assert sum(counts.values()) <= MAX_CODE_LINES, f"{sum(counts.values())} lines of code in notebooks: {counts}"


def test_the_structure_test_catches_computation():
    assert _problems("x = [r.final for r in runs]") == ["line 1: a loop (comprehension)"]
    assert "line 1: a selection by position (slice)" in _problems("pick = PEER_RUNS[::2]")
    assert "line 1: a call to split()" in _problems("name = source.split(',')[0]")
    assert "line 1: a branch" in _problems("if S.name == 'smoke':\n    n = 400")
    assert _problems("def f():\n    pass")[0].endswith("a function definition")
    assert _problems("usage = run_cases(mixture.usage_cases(ctx))\nshow(plotting.curves(usage))") == []
    assert _code_lines('say(facts, """\nline one {x}\nline two\n""")\n# comment\n\nshow(fig)') == 3


# ---- Every measured number in the prose is computed --------------------------------------------------------

def _setting_numbers() -> set[float]:
    """Numbers a markdown cell may state without computing them: parameters of the setting (every scale's sizes,
    the specs' defaults, the studies' constants and arms), small counts, powers of two."""
    import dataclasses
    import inspect

    import vqlib.studies as studies
    from vqlib import scales
    from vqlib.data import ImageSpec, MixtureSpec
    from vqlib.experiments import ModelSpec
    from vqlib.generate import PriorSpec
    from vqlib.train import TrainSpec

    found: set[float] = set(range(13)) | {2.0 ** k for k in range(17)}

    def add(value, depth=0):
        if isinstance(value, bool) or depth > 3:
            return
        if isinstance(value, (int, float)):
            found.add(float(value))
        elif isinstance(value, (tuple, list, set, frozenset)):
            for v in value:
                add(v, depth + 1)
        elif isinstance(value, dict):
            for k, v in value.items():
                add(k, depth + 1)
                add(v, depth + 1)

    for scale in scales.SCALES.values():
        for f in dataclasses.fields(scale):
            add(getattr(scale, f.name))
    for spec in (ModelSpec, TrainSpec, MixtureSpec, ImageSpec, PriorSpec):
        for f in dataclasses.fields(spec):
            if f.default is not dataclasses.MISSING:
                add(f.default)
    modules = [m for _, m in inspect.getmembers(studies, inspect.ismodule) if m.__name__.startswith("vqlib.")]
    for module in [studies, *modules]:
        for name, value in vars(module).items():
            if name.isupper():
                add(value)
    for arm in studies.ARMS.values():
        add(arm.continuous), add(arm.t_c_percent)
    return found


#: spans whose numbers are not measurements: citations, code, links, identifiers, headings' section numbers
EXEMPT = re.compile(r"<cite>.*?</cite>|`[^`]*`|\]\([^)]*\)|https?://\S+|arXiv:? ?\d{4}\.\d{4,5}|"
                    r"\b(?:section|sections|Table|Tables|Fig\.|Figure|eq\.)\s+\d+(?:\.\d+)*|"
                    r"[A-Za-z]+-\d+|^#+ \d+", re.S | re.M)
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(%)|([×x])(?!\w)|\^(\d+)|([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+))?")
SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _typed_numbers(text: str, allowed: set[float]) -> list[str]:
    text = EXEMPT.sub(" ", text)
    bad = []
    for match in NUMBER.finditer(text):
        whole, decimals, percent, times, power, superscript = match.groups()
        value = float(whole.replace(",", "") + (decimals or ""))
        if power:
            value = value ** int(power)
        if superscript:
            value = value ** int(superscript.translate(SUPERSCRIPT))
        candidates = {value, value / 100} if percent else {value}
        if times or not any(any(abs(c - a) <= 1e-9 * max(1.0, abs(a)) for a in allowed) for c in candidates):
            bad.append(match.group(0).strip())
    return bad


def _prose_templates(source: str) -> list[str]:
    """The string templates of the prose cells: the literals passed to say()."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "say":
            out += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_markdown_and_prose_templates_state_no_typed_measurement(path):
    allowed = _setting_numbers()
    bad = []
    for number, cell in enumerate(jupytext.read(path).cells, start=1):
        if cell.cell_type == "markdown":
            texts = [cell.source]
        else:
            texts = [re.sub(r"\{[^{}]*\}", " ", t) for t in _prose_templates(cell.source)]  # placeholders are computed
        for text in texts:
            typed = _typed_numbers(text, allowed)
            if typed:
                first = cell.source.strip().splitlines()[0][:60]
                bad.append(f"cell {number} ({cell.cell_type}, {first!r}): {', '.join(typed)}")
    assert not bad, (f"{path.name} states numbers that are neither parameters of the setting nor marked citations; "
                     "render measured numbers from the results (vqlib.studies.prose.say) and mark numbers cited "
                     "from papers with <cite>...</cite>:\n  " + "\n  ".join(bad))


def test_the_number_rule_catches_measurements_and_spares_the_setting():
    allowed = {32.0, 8.0, 1500.0, 0.25, 0.05, 1e-3}
    assert _typed_numbers("utilization 0.26 with 17 of 32 codes, 84 % covered, 4.5x wider", allowed) == [
        "0.26", "17", "84 %", "4.5x"]
    assert _typed_numbers("K = 32, D = 8, 1,500 steps, beta = 0.25, lr 10⁻³, band 5 %", allowed) == []
    assert _typed_numbers("<cite>rFID 8.58 vs 12.22</cite> (arXiv 2603.17052, section 4.2), CIFAR-10, `0.9`",
                          allowed) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_ran_cleanly_at_the_default_scale(path):
    cells = json.loads(path.with_suffix(".ipynb").read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert outputs, "the committed notebook shows its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "scale default" in text
