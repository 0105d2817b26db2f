"""A sweep directory: one sweep process at a time, and one study for its whole life.

Two sweeps of one directory would start the same runs twice, append to the same logs and each
write a report of the other's half-finished runs; a sweep of another study would mix its arms into
the first one's report. So a sweep is refused, in one line and before it writes anything, while
another process holds the directory (the run directory's own lock, on ``OUT/.lock``), and when
``OUT/sweep.json`` records a study its plan does not continue (``plan.check_plan``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from mathpe_jax.errors import UserError
from mathpe_jax.run.directory import lock_directory, release_directory
from mathpe_jax.sweep.plan import PlannedRun, check_plan, record_plan

__all__ = ["open_sweep"]


@contextlib.contextmanager
def open_sweep(out: str | Path, runs: Sequence[PlannedRun]) -> Iterator[None]:
    """Holds the lock of sweep directory ``out`` for the ``with`` block, with ``runs`` recorded.

    The plan is checked before the lock is taken, so a different study writes nothing, not even
    the lock file; and again under the lock, since another sweep may have recorded in between.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    check_plan(out, runs)
    lock_directory(out, "sweep directory")
    try:
        record_plan(out, runs)
        yield
    finally:
        release_directory(out)
