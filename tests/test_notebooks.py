"""Structure every notebook must keep so that papermill, nbval, jupytext and `make figures` work as documented."""

import json
import re
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


# What belongs in vqlib.studies, not in a notebook: building specs, defining arms, writing claims, or passing
# settings through the environment mid-notebook.
FORBIDDEN = [r"\b(RunSpec|ModelSpec|TrainSpec|MixtureSpec|ImageSpec|PriorSpec|Claim)\(", r"\bwith_arm\b",
             r"dataclasses\.replace", r"os\.environ\[", r"\bdef (spec|mean_of|deferred|replace)\(",
             r"torch\.manual_seed"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebooks_hold_no_spec_arm_or_claims_logic(path):
    code = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    found = [pattern for pattern in FORBIDDEN if re.search(pattern, code)]
    assert not found, f"{path.name} builds specs, arms or claims itself ({found}): move that into vqlib.studies"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_ran_cleanly_at_the_default_scale(path):
    cells = json.loads(path.with_suffix(".ipynb").read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert outputs, "the committed notebook shows its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "scale default" in text
