"""The README's library snippet runs as printed (in a scratch cache)."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_library_snippet_runs(capsys, one_thread):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README shows how to use the library"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.split()
    early, deferred = float(printed[0]), float(printed[1])
    assert 0 < early < deferred <= 1  # the snippet's claim: deferral uses more of the codebook


def _block_with(text: str) -> str:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S) if text in b]
    assert len(blocks) == 1, f"the README shows one snippet with {text!r}"
    return blocks[0]


def test_the_readme_diagnose_snippet_runs(capsys, one_thread, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")  # the snippet writes report.png; no window
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block_with("from vqlib.diagnose import diagnose"), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "verdict: " in printed and "vector-quantize-pytorch VectorQuantize" in printed
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert namespace["report"]["rows"] == 8192


def test_the_readme_usage_tracker_snippet_runs():
    namespace: dict = {}
    exec(compile(_block_with("UsageTracker("), "README.md", "exec"), namespace)
    tracker = namespace["tracker"]
    tracker.update(torch.tensor([[0, 1], [1, 1]]))
    assert tracker.total == 4 and tracker.utilization == 2 / 256
