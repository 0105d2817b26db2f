"""tools/bench.py gpu at a tiny shape on the CPU: the report's figures against their formulas.

One run of the command line, in this process (the costly part: it compiles a training step and a
decoding loop), gives the report; it has --bandwidth_gbs, so the decoding bound is a number, and no
--peak_tflops, so MFU is null on the CPU. What --peak_tflops changes is checked on the same
measurements through ``gpu.train_figures``, which the run itself uses, and the flag's way from the
command line to the spec through the error it gives when out of range. Timings are only checked to
be positive.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from benchmarks import gpu
from tools import bench

SHAPE = {"layers": 2, "width": 64, "heads": 4, "kv_heads": 2, "mlp": 128, "vocab": 256}
SIZES = {"batch": 2, "seq": 64, "steps": 2, "prompt_len": 8, "new_tokens": 8, "repeats": 1}
BANDWIDTH_GBS = 20.0
TINY = [f"--{k}={v}" for k, v in {**SHAPE, **SIZES}.items()]  # attention_impl=auto: xla on a CPU


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_gpu") / "report.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench.main(["gpu", *TINY, f"--bandwidth_gbs={BANDWIDTH_GBS}", f"--out={out}"]) == 0
    lines = printed.getvalue().strip().splitlines()
    return {"lines": lines, "report": json.loads(lines[-1]), "out": out}


def expected_flops() -> int:
    """Written out for SHAPE, independently of gpu's formula."""
    layers, width, heads, kv_heads, mlp, vocab = SHAPE.values()
    head_dim = width // heads
    per_layer = width * width + 2 * width * kv_heads * head_dim + width * width + 3 * width * mlp
    n = layers * per_layer + width * vocab
    tokens = SIZES["batch"] * SIZES["seq"]
    return 6 * n * tokens + 12 * layers * SIZES["batch"] * SIZES["seq"] ** 2 * width // 2


@pytest.mark.slow
def test_report_figures_on_cpu(run):
    report = run["report"]
    assert run["lines"][0].startswith("device: cpu") and len(run["lines"]) > 3  # progress, then JSON
    assert report["mode"] == "gpu" and report["platform"] == "cpu" and report["jax_version"]
    assert {k: report["config"][k] for k in SHAPE} == SHAPE
    assert report["config"]["remat"] == "dots" and report["config"]["scan_layers"] is True
    train = report["train"]
    assert train["tokens_per_second"] > 0 and len(train["seconds"]) == SIZES["steps"]
    assert train["model_flops_per_step"] == expected_flops() == 75_497_472
    assert train["dense_flops_per_step"] + train["attention_flops_per_step"] == train["model_flops_per_step"]
    assert train["xla_flops_per_step"] > 0
    # rope has no weights: the count is the matmul weights, the embedding and 2L + 1 norms
    width = SHAPE["width"]
    assert train["params"] == report["config"]["matmul_params"] + SHAPE["vocab"] * width + 5 * width
    assert all(loss > 0 for loss in train["losses"])
    assert report["peak_flops"] is None and report["peak_flops_source"] is None
    assert train["mfu"] is None and "--peak_tflops" in train["mfu_reason"] and "'cpu'" in train["mfu_reason"]
    assert json.loads(run["out"].read_text()) == report


@pytest.mark.slow
def test_decoding_against_the_bandwidth_bound(run):
    report = run["report"]
    assert report["bandwidth_source"] == "--bandwidth_gbs"
    decode = report["decode"]
    assert decode["tokens_per_second"] > 0 and len(decode["seconds"]) == SIZES["repeats"]
    assert decode["weight_bytes"] == 2 * report["config"]["matmul_params"]
    # 2 rows x (8 + 7/2) entries on average x keys and values x 2 layers x 2 kv heads x 16 x 2 bytes
    assert decode["mean_cache_bytes"] == 2 * 11.5 * 2 * 2 * 2 * 16 * 2
    bound = SIZES["batch"] * BANDWIDTH_GBS * 1e9 / (decode["weight_bytes"] + decode["mean_cache_bytes"])
    assert decode["bound_tokens_per_second"] == pytest.approx(bound) and decode["bound_reason"] is None
    assert decode["fraction_of_bound"] == pytest.approx(decode["tokens_per_second"] / bound)
    assert decode["fraction_of_bound"] > 0


@pytest.mark.slow
def test_a_given_peak_makes_mfu_a_number(run):
    report = run["report"]
    spec = {**report["config"], "peak_tflops": 0.5}
    train = report["train"]
    figures = gpu.train_figures(spec, train["median_step_seconds"], train["xla_flops_per_step"], "cpu")
    achieved = expected_flops() / train["median_step_seconds"]
    assert figures["mfu"] == pytest.approx(achieved / 0.5e12) and figures["mfu"] > 0
    assert figures["mfu_reason"] is None
    assert {k: v for k, v in figures.items() if k not in ("mfu", "mfu_reason")} == {
        k: train[k] for k in figures if k not in ("mfu", "mfu_reason")
    }
    assert gpu.rates(spec, "cpu")["peak_flops_source"] == "--peak_tflops"
    # a device in the table needs no flag
    assert gpu.train_figures(report["config"], 1.0, None, "NVIDIA H200")["mfu"] == expected_flops() / 989e12


def test_default_shape_is_tinyllama_1_1b():
    shape = gpu.DEFAULT_SHAPE
    embedding_and_norms = shape["vocab"] * shape["width"] + (2 * shape["layers"] + 1) * shape["width"]
    assert gpu.matmul_params(shape) + embedding_and_norms == 1_100_048_384


@pytest.mark.parametrize(
    "kind, peak, bandwidth",
    [
        ("NVIDIA H100 80GB HBM3", 989e12, 3.35e12),
        ("NVIDIA H200", 989e12, 4.8e12),
        ("NVIDIA H100 PCIe", 756e12, 2.0e12),
        ("NVIDIA A100-SXM4-80GB", 312e12, 2.039e12),
        ("NVIDIA A100-SXM4-40GB", 312e12, 1.555e12),
        ("cpu", None, None),
    ],
)
def test_device_table(kind, peak, bandwidth):
    assert gpu.device_figures(kind) == (peak, bandwidth)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--new_tokens=12", "--new_tokens=12 must be a positive multiple of 8"),
        ("--peak_tflops=-2", "--peak_tflops must be > 0, got -2.0"),
        ("--pe=bogus", "--pe=bogus is not a positional encoding; known: "),
    ],
)
def test_flags_out_of_range_are_refused_on_the_command_line(flag, message, capsys):
    with pytest.raises(SystemExit) as refused:
        bench.main(["gpu", *TINY, flag])
    assert refused.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {message}")


@pytest.mark.parametrize("key, value", [("heads", 5), ("kv_heads", 3), ("prompt_len", 0), ("peak_tflops", -1.0)])
def test_check_spec_names_the_flag(key, value):
    spec = {**SHAPE, **SIZES, "pe": "rope", "peak_tflops": None, "bandwidth_gbs": None, key: value}
    with pytest.raises(ValueError, match=f"--{key}={value}|--{key} must"):
        gpu.check_spec(spec)
