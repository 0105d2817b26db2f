"""Cost figures of a run: size, training and decoding throughput, latency, peak memory.

Every figure says where it comes from, because they are not all measured the same way on every
machine: peak memory is the accelerator's own counter when the backend keeps one (GPU, TPU), else
the peak resident memory of the whole process (CPU), which includes training when the run trained
in the same process.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import jax

from mathpe_jax.eval.generation import DecodeTiming
from mathpe_jax.run.layout import METRICS, RESULTS, read_json_object

__all__ = ["decode_figures", "efficiency_report", "peak_memory", "train_throughput"]


def peak_memory() -> dict[str, Any]:
    """``{"peak_memory_bytes", "peak_memory_source"}``: the largest ``peak_bytes_in_use`` over this
    host's devices, or the process peak RSS (``getrusage``) when a device keeps no statistics."""
    peaks = []
    for device in jax.local_devices():
        stats = device.memory_stats()
        if not stats or "peak_bytes_in_use" not in stats:
            break
        peaks.append(int(stats["peak_bytes_in_use"]))
    else:
        return {"peak_memory_bytes": max(peaks), "peak_memory_source": "device.memory_stats peak_bytes_in_use"}
    # Linux reports ru_maxrss in KiB.
    return {
        "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_memory_source": "process peak RSS (getrusage ru_maxrss)",
    }


def train_throughput(workdir: Path) -> dict[str, Any]:
    """Training tokens/s of the run: the ``train`` entry of an existing ``results.json``, else the
    last ``tokens_per_second`` logged in ``metrics.jsonl`` (a run evaluated right after training has
    no results.json yet), else null."""
    train = (read_json_object(workdir / RESULTS) or {}).get("train") or {}
    if train.get("tokens_per_second") is not None:
        return {"train_tokens_per_second": train["tokens_per_second"], "train_tokens_per_second_source": RESULTS}
    metrics = workdir / METRICS
    if metrics.is_file():
        logged = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        values = [row["tokens_per_second"] for row in logged if row.get("tokens_per_second") is not None]
        if values:
            return {"train_tokens_per_second": values[-1], "train_tokens_per_second_source": METRICS}
    return {"train_tokens_per_second": None, "train_tokens_per_second_source": None}


def decode_figures(timing: DecodeTiming) -> dict[str, Any]:
    """Greedy decoding throughput and latency from batches timed after compilation. Latency per
    problem is the batch's wall time shared among its problems (decoding is batched)."""
    return {
        "decode_tokens_per_second": timing.tokens / timing.seconds,
        "decode_seconds_per_problem": timing.seconds / timing.problems,
        "decode_seconds_per_batch": timing.seconds / timing.batches,
        "decode_batch_size": timing.batch_size,
        "decode_timed_problems": timing.problems,
    }


def efficiency_report(params: int, timing: DecodeTiming, workdir: Path) -> dict[str, Any]:
    """Parameter count, training throughput, decoding figures and peak memory in one entry."""
    return {"params": params, **train_throughput(workdir), **decode_figures(timing), **peak_memory()}
