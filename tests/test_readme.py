"""The README's library snippet runs as printed (in a scratch cache)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_library_snippet_runs(capsys, one_thread):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README shows how to use the library"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.split()
    early, deferred = float(printed[0]), float(printed[1])
    assert 0 < early < deferred <= 1  # the snippet's claim: deferral uses more of the codebook
