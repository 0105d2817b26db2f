"""What a run directory says about its run, read from its files without disturbing it.

``run_state`` is the one rule that the sweep (skip finished runs, resume the rest) and the monitor
share. A run is ``finished`` once ``results.json`` holds an evaluation of the step its config trains
to; ``running`` while a process holds its lock (read from ``/proc/locks``, so looking never takes
the lock a starting run needs); ``partial`` when it has begun (config.json) and is not running;
``new`` when it has not begun.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Literal

__all__ = ["RunProgress", "State", "directory_bytes", "latest_checkpoint", "read_json_object", "read_progress", "run_state"]

State = Literal["new", "partial", "running", "finished"]
_LOCKS = Path("/proc/locks")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """``path``'s JSON object, or None while it is missing or half written."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _locked(path: Path) -> bool:
    """Whether some process holds a lock on file ``path``, by its device and inode in /proc/locks
    (Linux); False where that file cannot be read."""
    try:
        stat = path.stat()
        table = _LOCKS.read_text()
    except OSError:
        return False
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any(line.split()[5] == inode for line in table.splitlines() if len(line.split()) > 5)


def run_state(workdir: str | Path) -> State:
    workdir = Path(workdir)
    config = read_json_object(workdir / "config.json")
    if config is None:
        return "new"
    if _locked(workdir / ".lock"):
        return "running"
    results = read_json_object(workdir / "results.json") or {}
    steps = (config.get("train") or {}).get("steps")
    if "eval" in results and results.get("step") == steps:
        return "finished"
    return "partial"


def latest_checkpoint(workdir: str | Path) -> int | None:
    """The newest checkpoint step in ``workdir/checkpoints`` (Orbax names each step's folder by its
    number; a save still in progress has a longer name and does not count), or None."""
    try:
        steps = [int(entry.name) for entry in (Path(workdir) / "checkpoints").iterdir() if entry.name.isdigit()]
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
    steps = ((read_json_object(workdir / "config.json") or {}).get("train") or {}).get("steps")
    line = _last_line(workdir / "metrics.jsonl") or {}
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
