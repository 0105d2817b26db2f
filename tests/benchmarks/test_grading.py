"""tools/bench.py grading, in this process: report structure and sanity, never timings."""

from __future__ import annotations

import json

import pytest

from benchmarks import grading
from tools import bench


def run_bench(capsys, *args: str) -> dict:
    assert bench.main(["grading", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_labels_scores_both_graders_on_every_labelled_file(capsys) -> None:
    report = run_bench(capsys, "labels")
    assert report["mode"] == "labels"
    files = {k: v for k, v in report.items() if k.endswith(".jsonl")}
    assert len(files) == 4
    for counts in files.values():
        assert 0 < counts["math-verify"] <= counts["lines"] and 0 < counts["mathpe_jax"] <= counts["lines"]
    # The grader at least matches the peer on every set (the figures are in the README's terms).
    assert all(c["mathpe_jax"] >= c["math-verify"] for c in files.values())


@pytest.mark.slow
def test_throughput_reports_rates_for_both_graders(capsys) -> None:
    report = run_bench(capsys, "throughput", "--n=60", "--peer_n=10")
    assert (report["n"], report["peer_n"], report["one_helper_size"]) == (60, 10, 1)
    assert report["one_helper_answers_per_s"] > 0 and report["math_verify_answers_per_s"] > 0
    assert report["pool_over_math_verify"] == report["pool_answers_per_s"] / report["math_verify_answers_per_s"]


@pytest.mark.slow
def test_load_reports_verdicts_and_the_slowest_call(capsys) -> None:
    report = run_bench(capsys, "load", "--threads=4", "--hogs=1", "--budget=5")
    assert (report["calls"], report["threads"], report["hogs"]) == (128, 4, 1)
    assert report["verdicts_differing"] == 0 and report["timed_out"] == 0
    assert 0 < report["median_call_s"] <= report["slowest_call_s"]


@pytest.mark.parametrize(
    "key, value, message",
    [("mode", "speed", "grading needs one of labels, throughput, load, got 'speed'"), ("hogs", -1, "--hogs must be >= 0"),
     ("budget", 0.0, "--budget must be > 0")],
)
def test_check_spec_names_the_flag(key, value, message) -> None:
    spec = {"mode": "labels", "show_misses": False, "n": 1, "peer_n": 1, "threads": 1, "hogs": 0, "budget": 5.0}
    with pytest.raises(ValueError, match=message):
        grading.check_spec({**spec, key: value})
