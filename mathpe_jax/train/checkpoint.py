"""Orbax checkpoints: save every K steps, keep N, resume from the latest one that reads back.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous steps intact. A step that is complete on disk but unreadable (a
truncated or corrupted file) is moved aside to ``checkpoints_corrupt/`` with a warning, and the
run falls back to the step before it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp
from absl import logging


class Checkpoints:
    """A thin owner of one ``ocp.CheckpointManager`` under ``WORKDIR/checkpoints``."""

    def __init__(self, workdir: str | Path, every: int, keep: int):
        self.directory = Path(workdir).absolute() / "checkpoints"
        self.every = every
        self.keep = keep
        self.manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True)
        return ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, force: bool = False) -> bool:
        """Saves ``state`` at ``step`` if ``step`` is a multiple of ``every`` (or ``force``) and not
        saved already; returns whether it did. The write finishes in the background."""
        if not (force or step % self.every == 0) or step in self.manager.all_steps():
            return False
        return self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any] | None:
        """The newest readable step and its state, or None when there is none."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                return step, self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
            except Exception as err:  # noqa: BLE001 - any failure to read means "not a good checkpoint"
                self._quarantine(step, err)
        return None

    def _quarantine(self, step: int, err: Exception) -> None:
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        aside = self.directory.parent / "checkpoints_corrupt" / str(step)
        logging.warning("checkpoint step %d is unreadable (%s); moved to %s, falling back", step, reason, aside)
        aside.parent.mkdir(parents=True, exist_ok=True)
        if aside.exists():
            shutil.rmtree(aside)
        shutil.move(str(self.directory / str(step)), aside)
        self.manager.close()
        self.manager = self._open()

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
