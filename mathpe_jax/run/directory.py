"""Creating and reopening a run directory: one process at a time, one config for its whole life.

``config.json`` is the config a run was started with; it is written once and never rewritten. A
later command on the same directory may differ from it only in the keys of ``ALLOWED_CHANGES``
(training may be extended; logging, checkpoint cadence and evaluation settings are free), because
anything else would change what the checkpoints mean. A key the run's config lacks because it was
added since (``layout.ADDED_KEYS``) reads as the value the run had. Every check happens before
anything is written, and a second process on the same directory is refused while the first holds
its lock.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import (
    ADDED_KEYS,
    ADDED_PE_OPTIONS,
    CONFIG,
    LOCK,
    NotAJsonObject,
    read_config,
    write_json_atomic,
)

# Keys (fnmatch patterns over dotted names) that a later command may change on an existing run:
# none of them changes the trained parameters. ``train.steps`` may only grow (extending a run).
ALLOWED_CHANGES: tuple[str, ...] = (
    "train.steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "eval.*",
)
# Evaluating an existing run: only the evaluation settings may differ from the run's own config.
EVAL_CHANGES: tuple[str, ...] = ("eval.*",)

_ABSENT = "<absent>"
# A key added since some runs were saved -> the value those runs had.
_OLD_VALUES: dict[str, Any] = {**ADDED_KEYS, **ADDED_PE_OPTIONS}

# Locks this process holds, by lock file: held until released or the process ends.
_HELD: dict[Path, int] = {}


class WorkdirUnusable(UserError):
    """The run directory is a file, cannot be written, or is not a run."""


class RunLocked(UserError):
    """Another process is using the run directory (or the sweep directory)."""


class ConfigChanged(UserError, ValueError):
    """A command's config differs from the run's own in a key that may not change."""


def lock_directory(path: Path, what: str) -> None:
    """Takes the exclusive lock of directory ``path`` (``flock`` on its ``.lock``, which then holds
    this process's id) until ``release_directory`` or the end of this process; taking it again is a
    no-op. A run and a sweep directory are locked alike, so a second process on either is refused
    the same way: ``RunLocked`` at once, naming ``what``, the path and the process that holds it."""
    lock_path = (path / LOCK).absolute()
    if lock_path in _HELD:
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLocked(f"{what} {path} is in use by process {holder}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[lock_path] = fd


def release_directory(path: Path) -> None:
    """Gives up this process's lock of directory ``path``; a no-op when not held."""
    fd = _HELD.pop((path / LOCK).absolute(), None)
    if fd is not None:
        os.close(fd)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _as_json(config: ConfigDict | Mapping[str, Any]) -> dict[str, Any]:
    """The config as config.json holds it (tuples become lists)."""
    if isinstance(config, ConfigDict):
        return json.loads(config.to_json())
    return json.loads(json.dumps(dict(config)))


def first_difference(
    config: ConfigDict | Mapping[str, Any], saved: Mapping[str, Any], allowed: Sequence[str]
) -> tuple[str, Any, Any] | None:
    """``(key, value here, value in the run)`` of the first key that differs and may not, or None.

    The run's label (``name``) is compared last, so the message names a substantive difference
    when there is one. A key absent on one side reads as ``<absent>``; for a key added since some
    runs were saved (``layout.ADDED_KEYS``, ``layout.ADDED_PE_OPTIONS``) that equals the value those
    runs had. Options that ``model.pe_by_name`` keeps for PEs other than the run's own build nothing
    in it, so they are not compared: a preset that gains an arm still resumes the runs of its other
    arms.
    """
    here, there = dict(_flatten(_as_json(config))), dict(_flatten(saved))
    used = f"model.pe_by_name.{there.get('model.pe.name', here.get('model.pe.name'))}."
    keys = [k for k in here if k != "name"] + [k for k in there if k not in here and k != "name"] + ["name"]
    keys = [k for k in keys if not k.startswith("model.pe_by_name.") or k.startswith(used)]
    for key in keys:
        new, old = here.get(key, _ABSENT), there.get(key, _ABSENT)
        if new == old or (key in _OLD_VALUES and _ABSENT in (new, old) and _OLD_VALUES[key] in (new, old)):
            continue
        if key == "train.steps" and "train.steps" in allowed and isinstance(new, int) and isinstance(old, int):
            if new > old:
                continue
        elif any(fnmatch.fnmatchcase(key, pattern) for pattern in allowed):
            continue
        return key, new, old
    return None


def _describe(value: Any) -> str:
    return value if value == _ABSENT else repr(value)


class RunDir:
    """One run directory (``WORKDIR``): its checks, its lock and its config.json."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir)
        self.config_path = self.path / CONFIG

    def check_usable(self) -> None:
        """Refuses a path that is a file, or a directory (or nearest existing parent) that this
        process cannot write."""
        if self.path.exists() and not self.path.is_dir():
            raise WorkdirUnusable(f"--workdir {self.path} is a file, not a directory")
        existing = self.path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise WorkdirUnusable(f"--workdir {self.path}: {existing} is a file, not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise WorkdirUnusable(f"--workdir {self.path} is not writable ({existing} denies write access)")

    def saved(self) -> dict[str, Any] | None:
        """The run's config.json as a dict with the keys added since filled in
        (``layout.read_config``), or None for a new run."""
        try:
            return read_config(self.path)
        except NotAJsonObject as err:
            raise WorkdirUnusable(f"{err}; use a new --workdir") from None

    def check_config(self, config: ConfigDict | Mapping[str, Any], allowed: Sequence[str] = ALLOWED_CHANGES) -> None:
        """Refuses ``config`` when it differs from the run's own in a key outside ``allowed``
        (a new run accepts any config). Reads only."""
        self.check_usable()
        saved = self.saved()
        if saved is None:
            return
        difference = first_difference(config, saved, allowed)
        if difference is not None:
            key, new, old = difference
            hint = "; train.steps may only grow" if key == "train.steps" else ""
            raise ConfigChanged(
                f"config.{key}={_describe(new)} differs from the run's {_describe(old)} ({self.config_path}){hint}; "
                "use a new --workdir"
            )

    def lock(self) -> None:
        """Takes the run's exclusive lock until ``release()`` or the end of this process (taking it
        again is a no-op). Another process holding it raises ``RunLocked`` at once, naming that process."""
        self.check_usable()
        lock_directory(self.path, "run directory")

    def release(self) -> None:
        """Gives the lock up (the end of the process does too); a no-op when not held."""
        release_directory(self.path)

    def create(self, config: ConfigDict | Mapping[str, Any], *, allowed_changes: Sequence[str] = ALLOWED_CHANGES) -> None:
        """Checks ``config`` against the run's own, locks, and writes config.json if the run is new."""
        self.check_config(config, allowed_changes)
        self.lock()
        self.check_config(config, allowed_changes)  # again under the lock: another process may have begun
        if not self.config_path.exists():
            write_json_atomic(self.config_path, _as_json(config))

    def open(self, config: ConfigDict | Mapping[str, Any] | None = None, *, allowed_changes: Sequence[str] = EVAL_CHANGES) -> None:
        """Locks an existing run, refusing ``config`` (when given) if it differs from the run's own
        outside ``allowed_changes``. Writes nothing but the lock."""
        self.require_existing()
        if config is not None:
            self.check_config(config, allowed_changes)
        self.lock()

    def require_existing(self) -> None:
        self.check_usable()
        if not self.config_path.is_file():
            raise WorkdirUnusable(f"{self.path} is not a run directory (no {CONFIG}); train it first with --mode=train")


def saved_config(workdir: str | Path) -> ConfigDict:
    """The config a run was started with (its config.json), with the keys added since filled in."""
    run = RunDir(workdir)
    run.require_existing()
    return ConfigDict(run.saved())
