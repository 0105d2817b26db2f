"""How far a run has got, read from its files without disturbing it: its newest checkpoint and
the pace of its training. Its state (new, partial, running, finished) is ``run.layout.run_state``,
the one rule that the sweep (skip finished runs, resume the rest) and the monitor share.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from mathpe_jax.run.layout import CHECKPOINTS, CONFIG, METRICS, peek_json_object

__all__ = ["RunProgress", "directory_bytes", "latest_checkpoint", "read_progress"]


def latest_checkpoint(workdir: str | Path) -> int | None:
    """The newest checkpoint step in ``workdir/checkpoints`` (Orbax names each step's folder by its
    number; a save still in progress has a longer name and does not count), or None."""
    try:
        steps = [int(entry.name) for entry in (Path(workdir) / CHECKPOINTS).iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    return max(steps, default=None)


@dataclasses.dataclass(frozen=True)
class RunProgress:
    """A run's latest logged step and its pace (None where nothing is logged yet)."""

    step: int | None
    steps: int | None
    loss: float | None
    tokens_per_second: float | None
    eta_seconds: float | None


def _last_line(path: Path) -> dict[str, Any] | None:
    """The last complete JSON line of ``path`` (read from the end, so a long log costs nothing)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 8192, 0))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def read_progress(workdir: str | Path) -> RunProgress:
    """Step, loss and tokens/s from the last line of ``metrics.jsonl``; the ETA assumes the
    remaining steps take as many tokens each as the last logged one."""
    workdir = Path(workdir)
    steps = ((peek_json_object(workdir / CONFIG) or {}).get("train") or {}).get("steps")
    line = _last_line(workdir / METRICS) or {}
    step, rate, tokens = line.get("step"), line.get("tokens_per_second"), line.get("tokens")
    eta = None
    if isinstance(step, int) and isinstance(steps, int) and rate and tokens:
        eta = max(steps - step, 0) * tokens / rate
    return RunProgress(step=step, steps=steps, loss=line.get("loss"), tokens_per_second=rate, eta_seconds=eta)


def directory_bytes(path: str | Path) -> int:
    """Bytes used by the files under ``path`` (what ``du`` counts, without following links)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
