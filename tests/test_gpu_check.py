"""make gpu-check (tools/gpu_check.py): its code path on the CPU (a few steps), the arithmetic of its projection,
and that it is a tool: the library below the study layer never imports vqlib.studies."""

import ast
import importlib.util
import math
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import vqlib
from vqlib.scales import get_scale
from vqlib.studies import context
from vqlib.studies.registry import notebook_specs

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_projection_counts_every_new_run_once_at_the_measured_rates():
    measured = pd.DataFrame([
        {"kind": "mixture", "K": 32, "steps_per_s": 100.0, "eval_s": 0.5, "eval_images": 10000},
        {"kind": "cifar10", "K": 1024, "steps_per_s": 20.0, "eval_s": 10.0, "eval_images": 10000},
        {"kind": "cifar10", "K": 16384, "steps_per_s": 10.0, "eval_s": 20.0, "eval_images": 10000},
        {"kind": "imagenet", "K": 16384, "steps_per_s": 5.0, "eval_s": 40.0, "eval_images": 10000}])
    table = gpu_check.project(measured).set_index("notebook")
    specs = notebook_specs(context("paper"))
    nb01 = "01_synthetic_gaussian_mixture"
    assert table.loc[nb01, "new training runs"] == len(set(specs[nb01]))
    # notebook 03 reuses runs of 01 and 02: only the others are new
    new_in_03 = set(specs["03_fixes"]) - set(specs["01_synthetic_gaussian_mixture"]) - set(specs["02_real_images"])
    assert table.loc["03_fixes", "new training runs"] == len(new_in_03)
    # a paper-scale CIFAR-10 run at K = 256 is costed at the K = 1,024 rate (the nearest in log K): 40,000 steps at
    # 20 steps/s, plus 21 evaluations (step 0, every 2,000 steps, the end) of 10 s each
    spec = next(s for s in specs["02_real_images"] if s.data.name == "cifar10" and s.model.num_codes == 256
                and s.train.quantize_from == 0 and s.train.eval_every == 2000)
    assert (spec.train.steps, spec.data.eval_images) == (40000, 10000)
    assert gpu_check.run_seconds(spec, measured) == pytest.approx(40000 / 20 + 21 * 10.0)
    assert math.isnan(gpu_check.run_seconds(spec, measured[measured.kind == "mixture"]))  # nothing to go by
    assert get_scale("gpu").image_codebook_sizes == (1024, 16384)


def test_paper_scale_matches_the_paper_setup():
    from vqlib.studies import settings

    imagenet = settings.imagenet_base(context("paper"))
    assert imagenet.data.resolution == 128 and imagenet.model.num_codes == 16384
    assert imagenet.model.channels == 64 and imagenet.model.num_downsamples == 3  # 16 x 16 tokens
    assert max(get_scale("paper").image_codebook_sizes) == 2**14
    assert settings.cifar_base(context("default")).model == settings.CIFAR_MODEL  # the default scale is unchanged


@pytest.mark.skipif(not os.environ.get("VQLIB_CIFAR10"), reason="needs a local CIFAR-10 copy (VQLIB_CIFAR10)")
def test_gpu_check_runs_on_the_cpu(capsys):
    assert gpu_check.main(["--cpu", "--steps", "2", "--eval-images", "16", "--cifar-images", "64",
                           "--codebook-sizes", "32"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10 K=32 early_kmeans:" in out and "steps/s" in out
    assert "projected wall time of make figures SCALE=paper" in out and "03_fixes" in out


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of what a module of vqlib imports (relative imports resolved)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])  # e.g. ["vqlib"] or ["vqlib", "diagnose"]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.update([module] + [f"{module}.{alias.name}" for alias in node.names])
    return names


def test_the_library_below_the_study_layer_never_imports_it():
    library = Path(vqlib.__file__).parent
    for path in sorted(library.rglob("*.py")):
        if path.relative_to(library).parts[0] in ("studies", "plotting"):  # the layers above may
            continue
        studies = {name for name in _imported_modules(path) if name.startswith("vqlib.studies")}
        assert not studies, f"{path.relative_to(ROOT)} imports {sorted(studies)}: a tool belongs in tools/"
    assert not (library / "gpu_check.py").exists()


def test_make_gpu_check_runs_the_tool_with_its_arguments():
    dry = subprocess.run(["make", "-n", "gpu-check", "GPU_CHECK_ARGS=--cpu --steps 2"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "tools/gpu_check.py --cpu --steps 2" in dry
