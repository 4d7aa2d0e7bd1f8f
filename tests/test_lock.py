"""The locked environment: the lock pins everything with hashes, and the check that `make setup` runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_lock", ROOT / "tools" / "check_lock.py")
check_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_lock)


def test_the_lock_pins_every_package_with_hashes_and_the_cpu_torch():
    text = (ROOT / "requirements.lock").read_text()
    pins = check_lock.pins(ROOT / "requirements.lock")
    assert pins["torch"].endswith("+cpu") and not any(name.startswith("nvidia") for name in pins)
    for name in ("numpy", "pandas", "matplotlib", "pillow", "papermill", "nbval", "jupyterlab", "submitit",
                 "vector-quantize-pytorch", "scikit-learn", "tqdm"):
        assert name in pins, name
    blocks = [b for b in text.split("\n") if check_lock.PIN.match(b)]
    assert len(blocks) == len(pins) and text.count("--hash=sha256:") >= len(pins)


def test_the_check_names_missing_and_different_versions(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy==2.0.0 \\\n    --hash=sha256:ab\n    # via x\nPillow==10.0.0\nzzz-absent==1.0\n")
    pins = check_lock.pins(lock)
    assert pins == {"numpy": "2.0.0", "pillow": "10.0.0", "zzz-absent": "1.0"}
    problems = check_lock.differences(pins, {"numpy": "2.1.0", "pillow": "10.0.0"})
    assert problems == ["numpy is 2.1.0, the lock says 2.0.0", "zzz-absent==1.0 is locked but not installed"]
    assert check_lock.main([str(lock)]) == 1
