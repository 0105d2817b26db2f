"""What a run directory and a sweep directory hold, and how their files are read and written.

Every name of the run-directory contract (``ARCHITECTURE.md``) and of a sweep directory is declared
here and nowhere else, with the one reader and the one atomic writer of their JSON files, the rule
that says what state a run is in, and the values of config keys that older runs saved none for.
Nothing but the standard library (and ``errors``) is imported: the sweep, its monitor and the
analysis of a sweep read run directories on machines (a laptop, a login node) where loading JAX
would cost seconds or fail.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from mathpe_jax.errors import UserError

# A run directory (WORKDIR).
CONFIG = "config.json"  # the resolved config, as run; written once
LOCK = ".lock"  # flock-ed by the one process using the directory, and naming it
CHECKPOINTS = "checkpoints"  # Orbax steps, one folder per step named by its number
CORRUPT_CHECKPOINTS = "checkpoints_corrupt"  # steps that did not read back, moved aside
TENSORBOARD = "tensorboard"  # event files of training and evaluation
METRICS = "metrics.jsonl"  # one JSON object per logged training step
TRAIN_TIME = "train_time.json"  # training wall time summed over resumed segments
TOKENIZER_MODEL = "tokenizer.model"  # SentencePiece model of a text run trained from scratch
ADAPTER = "adapter"  # LoRA adapters of a fine-tuned run
ADAPTER_PEFT = "adapter_peft"  # the same adapters in PEFT format
# What an evaluation writes, replacing the previous evaluation's as one unit (``run.outputs``).
PREDICTIONS = "predictions.jsonl"  # one graded completion per evaluated problem
GRID_PREDICTIONS = "grid_predictions.jsonl"  # a synthetic task's operand-grid cells, when it has them
ROBUSTNESS_PREDICTIONS = "robustness_predictions.jsonl"  # the perturbed problems' completions
ATTENTION = "attention"  # attention heatmaps (PNG)
RESULTS = "results.json"  # evaluation and provenance; sections merged
EVAL_STAGING = ".eval-staging"  # an evaluation being written
EVAL_COMMIT = ".eval-commit"  # a complete evaluation being moved into place
EVAL_MANIFEST = "MANIFEST.json"  # inside EVAL_COMMIT: the files that evaluation wrote

# A sweep directory (OUT): LOCK as a run's, and one run directory per planned run at OUT/<name>/seed<k>.
SWEEP = "sweep.json"  # the plan: {"runs": {"<name>/seed<k>": {"config", "seed", "overrides", "workdir"}}}
LOGS = "logs"  # each local run's output
JOBS = "jobs"  # each PBS job's arguments, id and output

# Keys added to the run config after runs were saved without them, with the value every such run
# had. ``read_config`` fills them in, so code reads them like any other key, and a command that asks
# for that value may resume or evaluate such a run (``run.directory.first_difference``).
ADDED_KEYS: dict[str, Any] = {
    "model.sliding_window": 0,
    "model.remat": "none",
    "model.scan_layers": False,
    "task.test_seed": 0,
    "task.index_hints": False,
    "task.zero_pad": False,
    "task.random_spaces": 0.0,
    "task.spaces_around_numbers": 0,
    "task.length_quantum": 32,
    "train.positions": "sequential",
    "eval.step": 0,
}
# PE options added the same way. They are compared like ``ADDED_KEYS`` but never filled in: a PE
# left without an option builds with its own default, which is the value such runs had, and
# ``model.pe`` filled with one PE's option would hand it to every other PE as well.
ADDED_PE_OPTIONS: dict[str, Any] = {
    "model.pe.offset_per": "batch",  # Abacus
    "model.pe_by_name.abacus.offset_per": "batch",
}

State = Literal["new", "partial", "running", "finished"]
_LOCKS = Path("/proc/locks")


class NotAJsonObject(UserError, ValueError):
    """A run's or sweep's JSON file that cannot be read, is not JSON, or holds no JSON object."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


def read_json_object(path: str | Path, what: str = "an object") -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is no such file. Anything else raises
    ``NotAJsonObject`` in one line naming the file, so one broken run among many says which it is
    (``what`` names what the file should hold in that message)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise NotAJsonObject(path, f"is unreadable ({error})") from None
    try:
        value = json.loads(data)
    except ValueError as error:  # UnicodeDecodeError included
        raise NotAJsonObject(path, f"is not valid JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise NotAJsonObject(path, f"holds a JSON {type(value).__name__}, not {what}")
    return value


def peek_json_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None while it is missing, half written or anything else:
    for watchers, which must never stop on a file another process is writing."""
    try:
        return read_json_object(path)
    except NotAJsonObject:
        return None


def fsync(path: str | Path) -> None:
    """Flushes a file's data, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Writes ``data`` to a temporary file beside ``path``, flushes it to disk, renames it over
    ``path`` and flushes the directory: a reader, or the file system after a crash, sees the old
    file or the new one, never a mixture."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync(path.parent)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON, written by ``write_atomic``."""
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def with_added_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with each of ``ADDED_KEYS`` it lacks set to its old value, wherever the
    section holding the key is there (a config without a ``task`` section does not gain one)."""
    filled = copy.deepcopy(dict(config))
    for dotted, value in ADDED_KEYS.items():
        *sections, key = dotted.split(".")
        node: Any = filled
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(key, value)
    return filled


def read_config(workdir: str | Path) -> dict[str, Any] | None:
    """The config a run was started with (its config.json) with ``ADDED_KEYS`` filled in, or None
    when the run has not begun; ``NotAJsonObject`` when the file is not a config."""
    saved = read_json_object(Path(workdir) / CONFIG, what="a run's config (an object)")
    return None if saved is None else with_added_keys(saved)


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


def lock_holder(directory: str | Path) -> str | None:
    """The process that holds the lock of a run or sweep ``directory``, as its lock file names it
    ("unknown" until the holder has written its id), or None when no process holds it. Looking
    never takes the lock, so it cannot stop a run from starting."""
    lock = Path(directory) / LOCK
    if not _locked(lock):
        return None
    try:
        holder = lock.read_text().strip()
    except OSError:
        holder = ""
    return holder or "unknown"


def run_state(workdir: str | Path) -> State:
    """``finished`` once ``results.json`` holds an evaluation of the step the config trains to;
    ``running`` while a process holds the run's lock; ``partial`` when it has begun (config.json)
    and is neither; ``new`` when it has not begun. Half-written files read as absent."""
    workdir = Path(workdir)
    config = peek_json_object(workdir / CONFIG)
    if config is None:
        return "new"
    if lock_holder(workdir) is not None:
        return "running"
    results = peek_json_object(workdir / RESULTS) or {}
    steps = (config.get("train") or {}).get("steps")
    if "eval" in results and results.get("step") == steps:
        return "finished"
    return "partial"
