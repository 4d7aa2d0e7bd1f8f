"""Structure every notebook must keep so that papermill, nbval and `make figures` work as documented."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_comes_first_and_reads_the_scale_from_the_environment(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "the first code cell must be tagged 'parameters'"
    source = "".join(code[0]["source"])
    assignments = [line for line in source.splitlines() if "=" in line and not line.startswith("#")]
    assert assignments[0].startswith('scale = os.environ.get("VQLIB_SCALE", "default")')
    # An injected-parameters cell left in a committed notebook would pin the scale and defeat VQLIB_SCALE.
    assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_ran_cleanly_at_the_default_scale(path):
    cells = json.loads(path.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert outputs, "the committed notebook shows its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "scale default" in text
