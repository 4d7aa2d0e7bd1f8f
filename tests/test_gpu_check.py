"""make gpu-check: its code path on the CPU (a few steps), and the arithmetic of its projection."""

import math
import os

import pandas as pd
import pytest

from vqlib import gpu_check
from vqlib.scales import get_scale
from vqlib.studies import context
from vqlib.studies.registry import notebook_specs


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
