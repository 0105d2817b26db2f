"""tools/bench.py serve end to end, small: the session's tiny Hugging Face checkpoint (random weights)
served by ``python -m mathpe_jax.serve`` processes, batching on and off, a burst of 8
requests each. The command line runs in this process; the servers are what it measures. Only the
report's shape and consistency are checked; timings only to be positive and ordered, never their
speed or the throughput ratio. The command line's one run as a program is its refusal of a bad flag.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from tests.conftest import run_tool
from tools import bench

REQUESTS = 8
MAX_NEW_TOKENS = 8
MODELS = ("llama",)


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_hf_checkpoint):
    root = tmp_path_factory.mktemp("bench_serve")
    specs = [f"--model=llama={tiny_hf_checkpoint}"]
    out = root / "report.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = bench.main([
            "serve", *specs, f"--requests={REQUESTS}", "--max_batch=4", "--max_wait_ms=20",
            f"--max_new_tokens={MAX_NEW_TOKENS}", f"--out={out}",
        ])
    assert status == 0
    lines = printed.getvalue().strip().splitlines()
    assert len(lines) > 4 and any(line.startswith("batching on:") for line in lines[:-1])  # progress, then JSON
    report = json.loads(lines[-1])
    assert json.loads(out.read_text()) == report
    return report


@pytest.mark.slow
@pytest.mark.subprocess
def test_both_modes_without_errors(report):
    assert report["mode"] == "serve" and set(report["models"]) == set(MODELS)
    assert report["config"]["requests"] == REQUESTS and report["config"]["max_new_tokens"] == MAX_NEW_TOKENS
    for key, max_batch in (("batching_on", 4), ("batching_off", 1)):
        mode = report[key]
        assert mode["max_batch"] == max_batch
        assert mode["requests"] == REQUESTS and mode["errors"] == 0 and mode["warmup_errors"] == 0, mode["error_samples"]
        assert mode["server_exit_status"] is not None  # the server was stopped
        assert mode["wall_seconds"] > 0 and mode["requests_per_second"] > 0
        assert 0 < mode["completion_tokens"] <= REQUESTS * MAX_NEW_TOKENS
        assert mode["tokens_per_second"] > 0 and mode["client_cpu_seconds"] > 0
        latency = mode["latency_ms"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
        assert latency["max"] <= mode["wall_seconds"] * 1e3 + 1
        assert 1 <= mode["mean_batch_size"] <= max_batch and mode["largest_batch_size"] <= max_batch
        assert set(mode["compiled_shapes"]) == set(MODELS)
        for shapes in mode["compiled_shapes"].values():
            assert shapes and all(len(shape) == 3 and 1 <= shape[0] <= max_batch for shape in shapes)
    assert report["batching_off"]["mean_batch_size"] == 1 and report["batching_off"]["largest_batch_size"] == 1
    assert report["batching_off"]["server_mean_batch_size"] == 1
    assert report["throughput_ratio"] > 0  # its size is the benchmark's finding, not the test's


@pytest.mark.subprocess
def test_the_program_refuses_a_bad_flag_in_one_line():
    done = run_tool("bench.py", "serve", "--requests=0")
    assert (done.returncode, done.stderr) == (2, "error: --requests must be >= 1, got 0\n")
