"""Where a result came from: the code's commit, when it was written, and training time so far.

Training time is summed across resumes: each training segment adds its wall time to
``WORKDIR/train_time.json``, so a run stopped and resumed three times reports its whole cost.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

from mathpe_jax.run.layout import TRAIN_TIME, read_json_object, write_json_atomic

_CODE = Path(__file__).resolve().parents[2]  # the checkout that holds the mathpe_jax package


def git_commit(directory: Path = _CODE) -> str | None:
    """The commit checked out at ``directory`` (the code's own by default), or None when it is not
    a git checkout or git is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def train_seconds(workdir: str | Path) -> float:
    """Training wall time of the run so far, over all its segments (0 when it never trained)."""
    record = read_json_object(Path(workdir) / TRAIN_TIME)
    return 0.0 if record is None else float(record["seconds"])


def add_train_time(workdir: str | Path, seconds: float) -> float:
    """Adds one training segment's wall time; returns the new total."""
    path = Path(workdir) / TRAIN_TIME
    previous = read_json_object(path) or {"seconds": 0.0, "segments": 0}
    record = {"seconds": previous["seconds"] + seconds, "segments": previous["segments"] + 1}
    write_json_atomic(path, record)
    return record["seconds"]


def provenance(workdir: str | Path) -> dict[str, Any]:
    """The ``provenance`` section of results.json."""
    return {
        "commit": git_commit(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "train_seconds_total": train_seconds(workdir),
    }
