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

import jax
import orbax.checkpoint as ocp
from absl import logging


def _reason(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0][:300]


class CheckpointMismatch(ValueError):
    """A readable checkpoint that holds other arrays than this run's model (the config changed)."""


def _key_name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def tree_signature(tree: Any) -> dict[str, tuple[int, ...]]:
    """``{"params/layers/0/...": shape}`` for every array, whatever the containers were when saved
    (dataclass, nnx.State or plain dicts all normalise to the same names)."""
    signature = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        names = [_key_name(e) for e in path]
        names = [n for n in names if n not in ("value", "raw_value")]
        signature["/".join(names)] = tuple(leaf.shape)
    return signature


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

    def restore_latest(self, abstract_state: Any, quarantine: bool = True) -> tuple[int, Any] | None:
        """The newest readable step and its state, or None when there is none.

        A step whose saved arrays differ from ``abstract_state`` (names or shapes) raises
        ``CheckpointMismatch``: the run's config changed, and falling back or starting over would
        silently discard its training. An unreadable step is corrupt: with ``quarantine`` it is
        moved aside, otherwise skipped, with a warning either way.
        """
        expected = tree_signature(abstract_state)
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                saved = tree_signature(self._saved_tree(step))
                if not saved:
                    raise ValueError("no readable array metadata")
            except Exception as err:  # noqa: BLE001 - unreadable metadata: a corrupt step
                self._give_up_on(step, err, quarantine)
                continue
            if saved != expected:
                raise CheckpointMismatch(self._describe_mismatch(step, saved, expected))
            try:
                return step, self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
            except Exception as err:  # noqa: BLE001 - metadata fine but arrays unreadable
                self._give_up_on(step, err, quarantine)
        return None

    def _saved_tree(self, step: int) -> Any:
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.metadata(self.directory / str(step) / "default").item_metadata

    def _describe_mismatch(self, step: int, saved: dict, expected: dict) -> str:
        for name in sorted(set(saved) | set(expected)):
            if saved.get(name) != expected.get(name):
                return (
                    f"checkpoint step {step} in {self.directory} does not fit this model: {name} is "
                    f"{saved.get(name, 'absent')} there and {expected.get(name, 'absent')} here "
                    "(was the config changed? use a new --workdir)"
                )
        return f"checkpoint step {step} in {self.directory} does not fit this model"

    def _give_up_on(self, step: int, err: Exception, quarantine: bool) -> None:
        if quarantine:
            self._quarantine(step, err)
        else:
            logging.warning("checkpoint step %d is unreadable (%s); skipped", step, _reason(err))

    def _quarantine(self, step: int, err: Exception) -> None:
        reason = _reason(err)
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
