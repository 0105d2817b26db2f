"""Efficiency figures: arithmetic of the decode timing, where training throughput and memory come from."""

from __future__ import annotations

import json

import pytest

from mathpe_jax.eval import efficiency
from mathpe_jax.eval.efficiency import decode_figures, efficiency_report, peak_memory, train_throughput
from mathpe_jax.eval.generation import DecodeTiming

TIMING = DecodeTiming(seconds=2.0, batches=4, problems=16, tokens=400, batch_size=4)


def test_decode_figures_from_the_timed_batches() -> None:
    assert decode_figures(TIMING) == {
        "decode_tokens_per_second": 200.0,
        "decode_seconds_per_problem": 0.125,
        "decode_seconds_per_batch": 0.5,
        "decode_batch_size": 4,
        "decode_timed_problems": 16,
    }


def test_train_throughput_prefers_results_json_then_the_metrics_log(tmp_path) -> None:
    assert train_throughput(tmp_path) == {"train_tokens_per_second": None, "train_tokens_per_second_source": None}
    lines = [{"step": 5, "tokens_per_second": 10.0}, {"step": 10, "loss": 1.0}, {"step": 15, "tokens_per_second": 30.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "results.json").write_text(json.dumps({"train": None}))
    assert train_throughput(tmp_path) == {"train_tokens_per_second": 30.0, "train_tokens_per_second_source": "metrics.jsonl"}
    (tmp_path / "results.json").write_text(json.dumps({"train": {"tokens_per_second": 123.0}}))
    assert train_throughput(tmp_path) == {"train_tokens_per_second": 123.0, "train_tokens_per_second_source": "results.json"}


class _Device:
    def __init__(self, stats):
        self._stats = stats

    def memory_stats(self):
        return self._stats


def test_peak_memory_uses_device_counters_when_every_device_has_them(monkeypatch) -> None:
    devices = [_Device({"peak_bytes_in_use": 5, "bytes_in_use": 1}), _Device({"peak_bytes_in_use": 7})]
    monkeypatch.setattr(efficiency.jax, "local_devices", lambda: devices)
    assert peak_memory() == {"peak_memory_bytes": 7, "peak_memory_source": "device.memory_stats peak_bytes_in_use"}
    monkeypatch.setattr(efficiency.jax, "local_devices", lambda: [*devices, _Device(None)])
    assert peak_memory()["peak_memory_source"].startswith("process peak RSS")


def test_peak_memory_on_cpu_is_the_process_peak_rss() -> None:
    figures = peak_memory()
    assert figures["peak_memory_source"] == "process peak RSS (getrusage ru_maxrss)"
    assert figures["peak_memory_bytes"] > 10 * 2**20


def test_report_holds_every_figure(tmp_path) -> None:
    report = efficiency_report(1234, TIMING, tmp_path)
    assert report["params"] == 1234 and report["decode_tokens_per_second"] == pytest.approx(200.0)
    assert {"train_tokens_per_second", "peak_memory_bytes", "peak_memory_source"} <= set(report)
    json.dumps(report)
