# First: importing vqlib pins the instruction set before torch computes (vqlib.arithmetic); torch then chooses its
# kernels at once, so that a test that removes the pins from the environment (for its child processes) cannot
# leave this process computing with others.
import vqlib

vqlib.arithmetic.capability()

# isort: split
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test writes its cache, data and figures under tmp_path, never into the repository."""
    monkeypatch.setenv("VQLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VQLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VQLIB_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("VQLIB_PROGRESS", "0")
    monkeypatch.delenv("VQLIB_FORCE", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module (the test machine is shared: one thread beats two competing ones)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
