"""tools/bench_grading.py through its command line: report structure and sanity, never timings."""

from __future__ import annotations

import json

from tests.conftest import run_tool


def run_bench(*args: str) -> dict:
    done = run_tool("bench_grading.py", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_labels_scores_both_graders_on_every_labelled_file() -> None:
    report = run_bench("labels")
    files = {k: v for k, v in report.items() if k.endswith(".jsonl")}
    assert len(files) == 4
    for counts in files.values():
        assert 0 < counts["math-verify"] <= counts["lines"] and 0 < counts["mathpe_jax"] <= counts["lines"]
    # The grader at least matches the peer on every set (the figures are in the README's terms).
    assert all(c["mathpe_jax"] >= c["math-verify"] for c in files.values())


def test_throughput_reports_rates_for_both_graders() -> None:
    report = run_bench("throughput", "--n=60", "--peer_n=10")
    assert (report["n"], report["peer_n"], report["one_helper_size"]) == (60, 10, 1)
    assert report["one_helper_answers_per_s"] > 0 and report["math_verify_answers_per_s"] > 0
    assert report["pool_over_math_verify"] == report["pool_answers_per_s"] / report["math_verify_answers_per_s"]


def test_load_reports_verdicts_and_the_slowest_call() -> None:
    report = run_bench("load", "--threads=4", "--hogs=1", "--budget=5")
    assert (report["calls"], report["threads"], report["hogs"]) == (128, 4, 1)
    assert report["verdicts_differing"] == 0 and report["timed_out"] == 0
    assert 0 < report["median_call_s"] <= report["slowest_call_s"]
