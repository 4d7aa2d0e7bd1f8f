"""How a newcomer meets the install: the clone on the environment's path, whatever the working directory holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_folder_named_vqlib_beside_a_script_does_not_shadow_the_package(tmp_path):
    """`git clone ... vqlib` and a script beside the clone: the clone's own data/ folder used to be imported as
    vqlib.data (a namespace package) instead of the module, with pip's default editable install."""
    clone = tmp_path / "vqlib"
    (clone / "data").mkdir(parents=True)
    (clone / "data" / "README.md").write_text("the clone's data folder\n")
    script = tmp_path / "script.py"
    script.write_text("import vqlib\nfrom vqlib.data import MixtureSpec\nprint(vqlib.__file__)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()).resolve() == (ROOT / "vqlib" / "__init__.py").resolve()


def test_make_setup_puts_the_clone_on_the_path_without_an_editable_install():
    text = (ROOT / "Makefile").read_text()
    assert "vqlib-clone.pth" in text and "pip install --quiet --no-deps -e ." not in text
