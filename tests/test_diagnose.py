"""vqlib.diagnose: verdicts on constructed codebooks, streaming == in memory, the adapters against the layers'
own indices, the usage tracker, the command line and its errors, the figure."""

from __future__ import annotations

import math
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqlib import init, metrics
from vqlib.diagnose import (
    CODE_SCALE_MAX,
    MEANINGS,
    SHRINKAGE_MIN,
    UsageTracker,
    diagnose,
    from_vector_quantize,
    from_vqlib,
    main,
)
from vqlib.quantize import VectorQuantizer

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parent.parent


def mixture(n: int = 3000, dim: int = 8, components: int = 16, seed: int = 0):
    """Well separated Gaussian clusters: centres ~ N(0, 4^2 I), within-cluster std 0.5. Returns (rows, centres)."""
    gen = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.randn(components, dim, generator=gen)
    labels = torch.arange(n) % components  # every cluster equally often
    return centres[labels] + 0.5 * torch.randn(n, dim, generator=gen), centres


# -- verdicts on constructed cases --------------------------------------------------------------------------
def test_codes_at_the_cluster_centres_are_healthy():
    z, centres = mixture()
    report = diagnose(z, centres)
    assert report.verdict == ["healthy"]
    assert report["utilization"] == 1.0 and report["dead_codes"] == 0
    assert report["perplexity"] == pytest.approx(16.0, rel=1e-3)  # every cluster (and so code) equally often
    assert report["shrinkage_euclidean"] == pytest.approx(1.0, abs=0.1)
    assert report["best_code_scale"] == pytest.approx(1.0, abs=0.05)


def test_a_codebook_collapsed_onto_a_few_codes_is_tokens_collapse():
    z, centres = mixture()
    far = 1000.0 * torch.randn(14, 8, generator=torch.Generator().manual_seed(1))  # never the nearest code
    report = diagnose(z, torch.cat([centres[:2], far]))
    assert report.verdict == ["tokens collapse"]
    assert report["utilization"] == 2 / 16 and report["dead_codes"] == 14
    assert any("outside the data" in note for note in report.notes)


def test_a_codebook_shrunk_into_the_embeddings_centre_is_codebook_shrinkage():
    z, centres = mixture()
    mean = z.mean(0)
    report = diagnose(z, mean + 0.1 * (centres - mean))
    assert report.verdict == ["codebook shrinkage"]
    assert report["shrinkage_euclidean"] < SHRINKAGE_MIN
    assert report["best_code_scale"] > CODE_SCALE_MAX  # ~ 1 / 0.1: the codes huddle inside their cells


def test_embeddings_in_a_low_dimensional_subspace_are_embeddings_collapse():
    z, centres = mixture(dim=2)
    basis = torch.linalg.qr(torch.randn(16, 2, generator=torch.Generator().manual_seed(2))).Q  # 2 of 16 dims
    report = diagnose(z @ basis.T, centres @ basis.T)
    assert report.verdict == ["embeddings collapse"]
    assert report["embedding_components_99"] == 2 and report["dim"] == 16


def test_the_early_quantization_baseline_is_tokens_collapse_and_shrinkage():
    # the paper's picture: codes initialized on the small outputs of an untrained encoder; as the encoder spreads
    # out, a few codes are pulled out to the data (here 4 cluster centres) and the rest stay behind at the centre
    z, centres = mixture()
    behind = z.mean(0) + 0.05 * torch.randn(60, 8, generator=torch.Generator().manual_seed(3))
    report = diagnose(z, torch.cat([centres[:4], behind]))
    assert report.verdict == ["tokens collapse", "codebook shrinkage"]
    assert report["utilization"] < 0.5 and report["shrinkage_euclidean"] < SHRINKAGE_MIN


def test_k_means_on_diffuse_high_dimensional_embeddings_is_narrow_but_healthy():
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(4000, 32, generator=gen)
    report = diagnose(z, init.kmeans(z, 32, iters=20, generator=gen))
    assert report["shrinkage_euclidean"] < SHRINKAGE_MIN  # the cells' means lie well inside the cloud ...
    assert report["best_code_scale"] == pytest.approx(1.0, abs=0.05)  # ... but the codes are where they belong
    assert report.verdict == ["healthy"]
    assert any("not shrunk" in reason for reason in report.reasons)


# -- the numbers --------------------------------------------------------------------------------------------
def test_values_match_a_hand_count_and_the_metrics_module():
    z = torch.tensor([[0.0, 0.0], [0.0, 0.1], [1.0, 0.0], [1.0, 0.2], [5.0, 5.0]])
    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 9.0]])
    report = diagnose(z, codebook)
    # nearest codes 0, 0, 1, 1, 2 ([5, 5] is 32 from [9, 9], 41 from [1, 0])
    assert report.counts.tolist() == [2, 2, 1]
    assert report["perplexity"] == pytest.approx(math.exp(-(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))))
    assert report["perplexity_of_cap"] == report["perplexity_of_k"] == pytest.approx(report["perplexity"] / 3)
    assert report["quantization_error"] == pytest.approx((0.01 + 0.04 + 32.0) / 5, rel=1e-6)
    variance = float(z.double().var(0, unbiased=False).sum())
    assert report["relative_quantization_error"] == pytest.approx((0.05 + 32.0) / 5 / variance, rel=1e-6)
    assert report["embedding_effective_rank"] == pytest.approx(metrics.effective_rank(z), rel=1e-9)
    assert report["embedding_components_99"] == metrics.components_for_variance(z)
    assert report["embedding_std"] == pytest.approx(metrics.embedding_metrics(z)["embedding_std"], rel=1e-9)
    assert report["embedding_euclidean_distance"] == metrics.mean_pairwise_euclidean_distance(z)
    assert report["embedding_cosine_distance"] == pytest.approx(metrics.mean_pairwise_cosine_distance(z), rel=1e-9)
    expected = metrics.shrinkage(codebook, z)
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, rel=1e-9), name
    assert report["code_effective_rank"] == pytest.approx(metrics.effective_rank(codebook))


def test_perplexity_and_utilization_are_measured_against_what_the_rows_can_reach():
    z = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    report = diagnose(z, torch.arange(10.0).unsqueeze(1))  # 4 rows can use at most 4 of the 10 codes
    assert report["utilization"] == 0.4 and report["utilization_of_cap"] == 1.0
    assert report["perplexity"] == pytest.approx(4.0) and report["perplexity_of_cap"] == pytest.approx(1.0)
    assert "tokens collapse" not in report.verdict
    assert any("rows per code" in note for note in report.notes)


def test_streaming_equals_in_memory():
    z, centres = mixture(n=1000, dim=6)
    whole = diagnose(z, centres)
    batches = z.split([7, 300, 1, 500, 192])
    streamed = diagnose(lambda batch: batch, centres, batches)
    assert torch.equal(streamed.counts, whole.counts)
    assert streamed["quantization_error"] == pytest.approx(whole["quantization_error"], rel=1e-12)
    for name in ("embedding_effective_rank", "embedding_std", "embedding_cosine_distance", "shrinkage_rank",
                 "best_code_scale"):
        assert streamed[name] == pytest.approx(whole[name], rel=1e-9), name
    assert streamed["embedding_components_99"] == whole["embedding_components_99"]
    # the sample holds every row: the spread is the exact one, and equal
    assert streamed["embedding_euclidean_distance"] == whole["embedding_euclidean_distance"]
    assert whole["embedding_euclidean_distance"] == metrics.mean_pairwise_euclidean_distance(z, max_points=None)
    assert torch.equal(streamed.sample, z)


def test_the_sample_does_not_depend_on_the_batch_sizes():
    z, centres = mixture(n=1000, dim=6)
    whole = diagnose(z, centres, sample_size=100)
    streamed = diagnose(lambda batch: batch, centres, z.split(33), sample_size=100)
    assert whole.sample.shape == (100, 6)
    assert torch.equal(streamed.sample, whole.sample)
    assert streamed["embedding_euclidean_distance"] == whole["embedding_euclidean_distance"]
    other_seed = diagnose(z, centres, sample_size=100, seed=1)
    assert not torch.equal(other_seed.sample, whole.sample)
    # the sampled rows are rows of the set, in their order
    positions = [int((z == row).all(1).nonzero()) for row in whole.sample]
    assert positions == sorted(positions)


def test_feature_maps_with_the_channels_first_need_channel_dim():
    z, centres = mixture(n=512, dim=4)
    maps = z.reshape(8, 8, 8, 4).permute(0, 3, 1, 2)  # [B, d, h, w]
    streamed = diagnose(lambda batch: batch, centres, maps.split(3), channel_dim=1)
    assert torch.equal(streamed.counts, diagnose(z, centres).counts)
    with pytest.raises(ValueError, match="channel_dim=1"):
        diagnose(lambda batch: batch, centres, [torch.zeros(2, 4, 3, 5)])


def test_diagnose_rejects_bad_input_with_the_fix():
    z, centres = mixture(n=100, dim=4)
    with pytest.raises(ValueError, match="width 4 .* expects 5"):
        diagnose(z, torch.zeros(3, 5))
    bad = z.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        diagnose(bad, centres)
    with pytest.raises(ValueError, match="NaN or infinite"):
        diagnose(lambda batch: batch, centres, [z[:50], bad])
    with pytest.raises(ValueError, match="no embedding rows"):
        diagnose(lambda batch: batch, centres, [])
    with pytest.raises(ValueError, match="no embedding rows"):
        diagnose(torch.zeros(0, 4), centres)
    with pytest.raises(ValueError, match="needs the batches"):
        diagnose(lambda batch: batch, centres)
    with pytest.raises(ValueError, match="only used with an encode function"):
        diagnose(z, centres, [z])
    with pytest.raises(ValueError, match="at least 2 codes"):
        diagnose(z, centres[:1])
    with pytest.raises(ValueError, match=r"rows \[N, d\]"):
        diagnose(torch.zeros(5), centres)


def test_the_table_lists_every_metric_with_its_meaning_and_the_summary_argues_the_verdict():
    z, centres = mixture()
    report = diagnose(z, centres[:4])  # 4 codes for 16 clusters: used, but the clusters share them
    table = report.table()
    assert list(table["metric"]) == list(MEANINGS) and table["meaning"].str.len().min() > 10
    assert table.set_index("metric").loc["rows", "value"] == 3000 and isinstance(
        table.set_index("metric").loc["rows", "value"], int)
    text = report.summary()
    assert text.splitlines()[1] == f"verdict: {', '.join(report.verdict)}"
    assert "collapse below 50%" in text and f"shrunk below {SHRINKAGE_MIN}" in text
    assert str(report) == text


def test_plot_writes_one_page_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z, centres = mixture(n=600)
    report = diagnose(z, torch.cat([centres, 0.01 * torch.randn(4, 8)]))
    before = dict(plt.rcParams)
    fig = report.plot(tmp_path / "report.png")
    assert len(fig.axes) == 5  # four panels and the Lorenz curve's twin axis
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dict(plt.rcParams) == before  # the house style stays inside the figure
    plt.close(fig)


def test_dead_codes_are_drawn_above_the_used_ones_and_magnified_when_bunched():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    z, centres = mixture(n=600)
    # 12 dead codes bunched in a patch 1/1000 of the data's extent, off the data: one blob at full scale
    bunched = z.mean(0) + 2 * z.std() + 0.001 * torch.randn(12, 8)
    fig = diagnose(z, torch.cat([centres, bunched])).plot()
    pca = fig.axes[1]
    dead = next(c for c in pca.collections if c.get_label().startswith("dead codes"))
    used = next(c for c in pca.collections if c.get_label() == "used codes")
    assert dead.get_label() == "dead codes (12)" and dead.get_zorder() > used.get_zorder()
    insets = [a for a in pca.child_axes]
    assert len(insets) == 1 and "magnified" in insets[0].get_title()
    plt.close(fig)
    # spread out dead codes are visible as they are: no inset
    fig = diagnose(z, torch.cat([centres, 3 * torch.randn(12, 8)])).plot()
    assert not fig.axes[1].child_axes
    plt.close(fig)


# -- adapters -----------------------------------------------------------------------------------------------
def test_vqlib_adapter_counts_the_layers_own_indices():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 8, code_dim=4, cosine=True).eval()
    x = torch.randn(500, 8)
    with torch.no_grad():
        indices = vq(x).indices
    report = diagnose(x, vq)  # the layer's inputs, its projection and normalization applied
    assert torch.equal(report.counts, torch.bincount(indices, minlength=16))
    space = from_vqlib(vq)
    assert torch.equal(space.codebook, vq.codes()) and space.input_dim == 8
    assert "cosine" in report.description and "8 -> 4" in report.description
    assert torch.allclose(report.sample.norm(dim=1), torch.ones(1))  # the rows as looked up: normalized
    with torch.no_grad():
        expected = (vq.embed(x) - vq.codes()[indices]).pow(2).sum(1).mean()
    assert report["quantization_error"] == pytest.approx(float(expected), rel=1e-5)


VQ_CONFIGS = {
    "plain": dict(),
    "projection + cosine": dict(codebook_dim=4, use_cosine_sim=True),
    "two heads, one codebook": dict(heads=2, codebook_dim=4),
    "two heads, separate codebooks": dict(heads=2, codebook_dim=4, separate_codebook_per_head=True),
}


@pytest.mark.parametrize("config", VQ_CONFIGS)
def test_vector_quantize_adapter_counts_the_layers_own_indices(config):
    from vector_quantize_pytorch import VectorQuantize

    torch.manual_seed(0)
    layer = VectorQuantize(dim=8, codebook_size=16, kmeans_init=False, **VQ_CONFIGS[config]).eval()
    x = torch.randn(1, 600, 8)
    with torch.no_grad():
        _, indices, _ = layer(x)  # [1, 600] or [1, 600, heads]
    if layer.separate_codebook_per_head:
        for head in range(2):
            report = diagnose(x[0], from_vector_quantize(layer, head=head))
            assert torch.equal(report.counts, torch.bincount(indices[..., head].flatten(), minlength=16))
    else:
        report = diagnose(x[0], layer)
        assert torch.equal(report.counts, torch.bincount(indices.flatten(), minlength=16))
        assert report["rows"] == indices.numel()
        streamed = diagnose(lambda batch: batch, layer, (x[:, :250], x[:, 250:]))  # [1, n, 8] batches
        assert torch.equal(streamed.counts, report.counts)
    if layer.use_cosine_sim:
        # unit codes make the nearest code the same with or without normalized inputs: the distances tell
        with torch.no_grad():
            rows = torch.nn.functional.normalize(layer.project_in(x[0]), dim=-1)
            codes = torch.nn.functional.normalize(layer.codebook, dim=-1)[indices[0]]
        assert report["quantization_error"] == pytest.approx(float((rows - codes).pow(2).sum(1).mean()), rel=1e-5)
        assert torch.allclose(report.sample.norm(dim=1), torch.ones(1))


def test_vector_quantize_variants_that_are_not_supported_say_so():
    from vector_quantize_pytorch import ResidualVQ, VectorQuantize

    separate = VectorQuantize(dim=8, codebook_size=16, heads=2, separate_codebook_per_head=True)
    with pytest.raises(ValueError, match="separate codebook per head.*head=i"):
        diagnose(torch.randn(10, 8), separate)
    with pytest.raises(ValueError, match=r"head must be an integer in \[0, 2\)"):
        from_vector_quantize(separate, head=2)
    with pytest.raises(TypeError, match="ResidualVQ.*not supported"):
        diagnose(torch.randn(10, 8), ResidualVQ(dim=8, codebook_size=16, num_quantizers=2))
    with pytest.raises(ValueError, match="affine_param"):
        from_vector_quantize(VectorQuantize(dim=8, codebook_size=16, affine_param=True))
    with pytest.raises(TypeError, match="cannot diagnose a Linear"):
        diagnose(torch.randn(10, 8), torch.nn.Linear(8, 8))


# -- the usage tracker --------------------------------------------------------------------------------------
def test_usage_tracker_counts_like_bincount_and_keeps_the_whole_epoch():
    gen = torch.Generator().manual_seed(0)
    tracker = UsageTracker(10)
    batches = [torch.randint(0, 10, (2, 3, 4), generator=gen, dtype=torch.int32) for _ in range(5)]
    for indices in batches:
        tracker.update(indices)
    hand = torch.bincount(torch.cat([b.flatten().long() for b in batches]), minlength=10)
    assert torch.equal(tracker.counts, hand) and tracker.total == 120
    tracker.reset()
    assert tracker.total == 0
    with pytest.raises(ValueError, match="no indices counted"):
        _ = tracker.utilization


def test_usage_tracker_perplexity_is_exp_entropy_by_hand():
    tracker = UsageTracker(4)
    tracker.update(torch.tensor([0, 0]))
    tracker.update(torch.tensor([[1], [2]]))  # p = (1/2, 1/4, 1/4, 0): H = 1.5 log 2
    assert tracker.perplexity == pytest.approx(2 ** 1.5)
    assert tracker.utilization == 0.75 and tracker.dead_codes == 1
    assert "perplexity 2.8" in repr(tracker)


def test_usage_tracker_ignores_padding_and_refuses_out_of_range_indices():
    tracker = UsageTracker(4, ignore_index=-1)
    tracker.update(torch.tensor([0, -1, -1, 3]))
    assert tracker.counts.tolist() == [1, 0, 0, 1] and tracker.utilization == 0.5
    tracker.update(torch.tensor([4]))  # counted apart, without a host synchronization; refused when read
    with pytest.raises(ValueError, match="1 indices fell outside \\[0, 4\\)"):
        _ = tracker.perplexity
    bad = UsageTracker(4)
    bad.update(torch.tensor([-1]))
    with pytest.raises(ValueError, match="ignore_index=-1"):
        _ = bad.dead_codes


def test_usage_tracker_reduce_is_a_no_op_in_one_process():
    tracker = UsageTracker(3)
    tracker.update(torch.tensor([0, 2, 2]))
    assert tracker.reduce() is tracker and tracker.counts.tolist() == [1, 0, 2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tracker_worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        tracker = UsageTracker(4)
        tracker.update(torch.tensor([0, 0, 1]) if rank == 0 else torch.tensor([1, 3]))
        tracker.reduce()
        torch.save(tracker.counts, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_usage_tracker_reduce_sums_the_counts_of_two_processes(tmp_path):
    out = str(tmp_path / "counts")
    context = mp.start_processes(_tracker_worker, args=(_free_port(), out), nprocs=2, join=False,
                                 start_method="spawn")
    try:
        deadline = time.monotonic() + 120
        while not context.join(timeout=5):
            assert time.monotonic() < deadline, "the two processes did not finish within 120 s"
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    for rank in range(2):
        assert torch.load(f"{out}.{rank}").tolist() == [2, 2, 0, 1]


# -- the command line ---------------------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    z, centres = mixture(n=400)
    np.save(tmp_path / "z.npy", z.numpy())
    torch.save(centres, tmp_path / "c.pt")
    return tmp_path


def test_the_command_line_prints_the_summary_and_writes_the_figure(files, capsys):
    import matplotlib

    matplotlib.use("Agg")
    assert main(["--embeddings", str(files / "z.npy"), "--codebook", str(files / "c.pt"),
                 "--out", str(files / "report.png")]) == 0
    out = capsys.readouterr().out
    assert "verdict: healthy" in out and "figure written to" in out
    assert (files / "report.png").stat().st_size > 10_000


def test_the_command_line_runs_as_a_module(files):
    result = subprocess.run([sys.executable, "-m", "vqlib.diagnose", "--embeddings", str(files / "z.npy"),
                             "--codebook", str(files / "c.pt")], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "verdict: healthy" in result.stdout


def _bad_inputs(tmp: Path) -> dict:
    z, centres = mixture(n=50, dim=4)
    nan, inf = z.clone(), z.clone()
    nan[0, 0], inf[1, 2] = float("nan"), float("inf")
    (tmp / "corrupt.npy").write_bytes(b"not an array")
    (tmp / "z.csv").write_text("1,2\n")
    torch.save({"codebook": centres}, tmp / "dict.pt")
    arrays = {"wide.npy": torch.zeros(4, 5), "nan.npy": nan, "inf.npy": inf, "empty.npy": torch.zeros(0, 4),
              "flat.npy": torch.zeros(8), "cube.npy": torch.zeros(2, 3, 4), "one.npy": centres[:1], "z.npy": z}
    for name, value in arrays.items():
        np.save(tmp / name, value.numpy())
    np.save(tmp / "text.npy", np.array([["a", "b"]]))
    torch.save(centres, tmp / "c.pt")
    return {  # (embeddings, codebook) -> what the message must say
        ("missing.npy", "c.pt"): "--embeddings: no such file",
        ("z.npy", "missing.pt"): "--codebook: no such file",
        ("corrupt.npy", "c.pt"): "cannot read .*corrupt.npy.*numpy.save",
        ("z.csv", "c.pt"): "unknown file type '.csv'.*use .npy",
        ("z.npy", "dict.pt"): "holds a dict, not a tensor.*torch.save",
        ("text.npy", "c.pt"): "not numbers",
        ("z.npy", "wide.npy"): "width 4 but the codes have width 5",
        ("nan.npy", "c.pt"): "NaN or infinite values",
        ("inf.npy", "c.pt"): "NaN or infinite values",
        ("empty.npy", "c.pt"): "no embedding rows",
        ("flat.npy", "c.pt"): r"shape \(8,\), expected a 2-D",
        ("z.npy", "cube.npy"): r"--codebook: .*shape \(2, 3, 4\), expected a 2-D.*reshape",
        ("z.npy", "one.npy"): "at least 2 codes",
    }


def test_every_command_line_error_names_the_problem_and_exits_non_zero(tmp_path, capsys):
    for (embeddings, codebook), message in _bad_inputs(tmp_path).items():
        status = main(["--embeddings", str(tmp_path / embeddings), "--codebook", str(tmp_path / codebook)])
        captured = capsys.readouterr()
        assert status == 2, (embeddings, codebook)
        assert captured.err.startswith("error: ") and captured.out == ""
        assert re.search(message, captured.err), (message, captured.err)


def test_an_unwritable_figure_path_is_an_error(files, capsys):
    status = main(["--embeddings", str(files / "z.npy"), "--codebook", str(files / "c.pt"),
                   "--out", str(files / "no" / "such" / "dir" / "report.png")])
    assert status == 2 and "cannot write the figure" in capsys.readouterr().err


# -- one implementation, small modules, thresholds argued without frozen results ------------------------------
def test_the_embedding_side_is_metrics_streaming_stats():
    # diagnose's embedding numbers, sample and spectrum are those of vqlib.metrics.StreamingStats over the same
    # rows (one streaming implementation), whatever the batches
    z, centres = mixture(n=1500, dim=6)
    report = diagnose(lambda batch: batch, centres, z.split(250), sample_size=300, seed=5)
    stats = metrics.StreamingStats(None, 6, max_points=300, seed=5)
    for chunk in z.split(700):
        stats.update(chunk)
    for name, value in stats.result().items():
        assert report[name] == pytest.approx(value, rel=1e-12), name
    assert report["embedding_euclidean_distance"] == stats.result()["embedding_euclidean_distance"]
    assert torch.equal(report.sample, stats.sample_rows().float())
    assert torch.allclose(report.embedding_singular_values, stats.spectrum().sqrt(), rtol=1e-12)
    code = metrics.codebook_metrics_from_usage(report.counts.double() / report["rows"], centres,
                                               report["quantization_error"], stats.result())
    for name in ("utilization", "perplexity", "dead_codes", "shrinkage_euclidean", "shrinkage_cosine",
                 "shrinkage_rank", "code_effective_rank", "code_components_99"):
        assert report[name] == pytest.approx(code[name], rel=1e-12), name


DIAGNOSE_DIR = ROOT / "vqlib" / "diagnose"


def test_diagnose_is_a_package_of_small_modules_calling_no_private_metrics_helper():
    import ast

    modules = sorted(DIAGNOSE_DIR.glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "__main__", "core", "report", "verdict", "adapters", "plot",
                                         "tracker", "cli"}
    for path in modules:
        source = path.read_text()
        assert len(source.splitlines()) <= 600, f"{path.name} has more than 600 lines"
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "metrics":
                assert not node.attr.startswith("_"), f"{path.name} calls metrics.{node.attr}, a private helper"
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("metrics"):
                assert not any(a.name.startswith("_") for a in node.names), f"{path.name} imports a private helper"


def test_the_thresholds_comments_cite_where_results_are_not_the_results():
    # Measured values quoted in a comment go stale when a study is rerun: the argument cites the table or the
    # notebook section that measured them. A decimal or a percentage in the thresholds' module is one of the
    # thresholds themselves (or the 99 % of the 99 %-components).
    import vqlib.diagnose.verdict as verdict

    thresholds = {getattr(verdict, name) for name in verdict.__all__ if name.isupper()}
    comments = [line.split("#", 1)[1] for line in Path(verdict.__file__).read_text().splitlines() if "#" in line]
    docstring = verdict.__doc__
    for text in [*comments, docstring]:
        for match in re.finditer(r"(?<![\w.])(\d+\.\d+|\d+\s?%)", text):
            number = match.group(1)
            value = float(number.rstrip(" %")) / (100 if "%" in number else 1)
            assert value in thresholds or number.startswith("99"), (
                f"{number!r} in vqlib/diagnose/verdict.py looks like a measured result frozen in a comment: cite "
                f"the table or notebook section that measures it instead ({text.strip()!r})")
    assert "figures/03_results.csv" in docstring and "notebook 05" in docstring


def test_a_reference_calibrates_embeddings_collapse():
    torch.manual_seed(0)
    # embeddings that need 4 of their 32 dimensions: collapsed by the fixed rule (at most 32 / 4 = 8)
    z = torch.zeros(2000, 32)
    z[:, :4] = torch.randn(2000, 4)
    codes = z[:64].clone()
    assert diagnose(z, codes)["embedding_components_99"] == 4
    assert "embeddings collapse" in diagnose(z, codes).verdict
    assert math.isnan(diagnose(z, codes)["reference_components_99"])
    # a continuous autoencoder of the same width needs 6: 4 is more than half of that, no collapse
    calibrated = diagnose(z, codes, reference_components=6)
    assert "embeddings collapse" not in calibrated.verdict and calibrated["reference_components_99"] == 6
    assert any("a continuous autoencoder of the same width needs 6" in r for r in calibrated.reasons)
    # ... one that needs 8 or more: 4 is at most half, collapse
    assert "embeddings collapse" in diagnose(z, codes, reference_components=8).verdict
    with pytest.raises(ValueError, match="reference_components"):
        diagnose(z, codes, reference_components=0)
