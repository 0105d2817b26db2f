"""Orbax checkpoints: save every K steps, keep N, resume from the latest one that reads back.

Each step holds named items saved side by side (``WORKDIR/checkpoints/<step>/<item>/``): training
saves ``params`` (the trainable variables and the model's random streams) and ``opt_state``, so
evaluation and inference read the parameters alone and never build an optimizer. The steps are part
of the run directory, written by training and read by evaluation, so they live with it in ``run/``.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous steps intact. A step that is complete on disk but unreadable (a
truncated or corrupted file) is moved aside to ``checkpoints_corrupt/``: resuming training then
falls back to the step before it with a warning, while evaluation stops and names the step
(``run.restore``), since an older model must not be reported under the run's final step.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import CHECKPOINTS, CORRUPT_CHECKPOINTS

PARAMS = "params"
OPT_STATE = "opt_state"
# The single item of checkpoints written before parameters and optimizer state were separated.
_OLD_ITEM = "default"


def _reason(err: BaseException) -> str:
    """The first line of the innermost cause: the file-level failure, not the wrappers around it."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}".splitlines()[0][:300]


class CheckpointMismatch(UserError, ValueError):
    """A readable checkpoint that holds other arrays than this run's model (the config changed)."""


class CheckpointUnreadable(UserError):
    """A checkpoint step whose files do not read back (truncated or corrupted on disk)."""

    def __init__(self, step: int, message: str):
        super().__init__(message)
        self.step = step


class OldCheckpointLayout(UserError):
    """A checkpoint with parameters and optimizer state in one item, which this version cannot read."""


def _key_name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def tree_signature(tree: Any, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """``{"params/layers/0/...": shape}`` for every array, whatever the containers were when saved
    (dataclass, nnx.State or plain dicts all normalise to the same names)."""
    signature = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        names = [_key_name(e) for e in path]
        names = [n for n in names if n not in ("value", "raw_value")]
        signature["/".join([prefix, *names] if prefix else names)] = tuple(leaf.shape)
    return signature


class Checkpoints:
    """A thin owner of one ``ocp.CheckpointManager`` under ``WORKDIR/checkpoints``."""

    def __init__(self, workdir: str | Path, every: int = 1, keep: int = 1, *, read_only: bool = False):
        self.directory = Path(workdir).absolute() / CHECKPOINTS
        self.every = every
        self.keep = keep
        self.read_only = read_only
        self.manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=not self.read_only, read_only=self.read_only)
        return ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, items: Mapping[str, Any], force: bool = False) -> bool:
        """Saves the named trees ``items`` at ``step`` if ``step`` is a multiple of ``every`` (or
        ``force``) and not saved already; returns whether it did. The write finishes in the background."""
        if not (force or step % self.every == 0) or step in self.manager.all_steps():
            return False
        args = ocp.args.Composite(**{name: ocp.args.StandardSave(tree) for name, tree in items.items()})
        return self.manager.save(step, args=args, force=True)

    def steps(self) -> list[int]:
        """The steps on disk, oldest first."""
        return sorted(self.manager.all_steps())

    def final_step(self) -> int | None:
        """The newest step training wrote, readable or since moved aside as corrupt; None before
        the first save. A corrupt newest step stays the final one, so nothing falls back to an
        older step without being asked."""
        aside = self.directory.parent / CORRUPT_CHECKPOINTS
        moved = [int(p.name) for p in aside.iterdir() if p.name.isdigit()] if aside.is_dir() else []
        return max([*self.steps(), *moved], default=None)

    def restore_latest(self, abstract_items: Mapping[str, Any], quarantine: bool = True) -> tuple[int, dict[str, Any]] | None:
        """The newest readable step and the items named in ``abstract_items`` (only those are read),
        or None when there is none. An unreadable step is passed over for the one before it
        (resuming training); see ``restore`` for what happens to it."""
        for step in reversed(self.steps()):
            try:
                return step, self.restore(step, abstract_items, quarantine)
            except CheckpointUnreadable as err:
                logging.warning("%s; falling back to the step before it", err)
        return None

    def restore(self, step: int, abstract_items: Mapping[str, Any], quarantine: bool = True) -> dict[str, Any]:
        """The items named in ``abstract_items`` of ``step`` (only those are read).

        A step whose saved arrays differ from ``abstract_items`` (names or shapes) raises
        ``CheckpointMismatch``: the run's config changed, and falling back or starting over would
        silently discard its training. An unreadable step raises ``CheckpointUnreadable``: it is
        corrupt, and with ``quarantine`` it is moved aside first, otherwise left in place.
        """
        if (self.directory / str(step) / _OLD_ITEM).is_dir():
            raise OldCheckpointLayout(
                f"checkpoint step {step} in {self.directory} has the old single-item layout "
                "(parameters and optimizer state together), which this version cannot read; "
                "train again in a new --workdir"
            )
        expected = {}
        for name in sorted(abstract_items, key=lambda n: n != PARAMS):  # a mismatch names a parameter first
            expected.update(tree_signature(abstract_items[name], name))
        try:
            saved = {}
            for name in abstract_items:
                saved.update(tree_signature(self._saved_tree(step, name), name))
            if not saved:
                raise ValueError("no readable array metadata")
        except Exception as err:  # noqa: BLE001 - unreadable metadata: a corrupt step
            raise self._give_up_on(step, err, quarantine) from None
        if saved != expected:
            raise CheckpointMismatch(self._describe_mismatch(step, saved, expected))
        args = ocp.args.Composite(**{name: ocp.args.StandardRestore(tree) for name, tree in abstract_items.items()})
        try:
            restored = self.manager.restore(step, args=args)
        except Exception as err:  # noqa: BLE001 - metadata fine but arrays unreadable
            raise self._give_up_on(step, err, quarantine) from None
        return {name: restored[name] for name in abstract_items}

    def _saved_tree(self, step: int, item: str) -> Any:
        return ocp.StandardCheckpointHandler().metadata(self.directory / str(step) / item)

    def _describe_mismatch(self, step: int, saved: dict, expected: dict) -> str:
        for name in [*expected, *(n for n in saved if n not in expected)]:  # the model's order
            if saved.get(name) != expected.get(name):
                return (
                    f"checkpoint step {step} in {self.directory} does not fit this model: {name} is "
                    f"{saved.get(name, 'absent')} there and {expected.get(name, 'absent')} here "
                    "(was the config changed? use a new --workdir)"
                )
        return f"checkpoint step {step} in {self.directory} does not fit this model"

    def _give_up_on(self, step: int, err: Exception, quarantine: bool) -> CheckpointUnreadable:
        """Moves the step aside when ``quarantine`` (and writable); returns the error to raise."""
        message = f"checkpoint step {step} in {self.directory} is unreadable ({_reason(err)})"
        if quarantine and not self.read_only:
            aside = self.directory.parent / CORRUPT_CHECKPOINTS / str(step)
            aside.parent.mkdir(parents=True, exist_ok=True)
            if aside.exists():
                shutil.rmtree(aside)
            shutil.move(str(self.directory / str(step)), aside)
            self.manager.close()
            self.manager = self._open()
            message += f"; moved to {aside}"
        return CheckpointUnreadable(step, message)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
