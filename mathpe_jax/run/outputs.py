"""An evaluation's files replace the previous evaluation's together, or not at all.

Evaluation writes its predictions, heatmaps and ``results.json`` into ``WORKDIR/.eval-staging/``.
Once every file there is complete and on disk, the directory is renamed to ``WORKDIR/.eval-commit/``:
that one atomic rename is the moment the new evaluation exists. Its files are then renamed into
place (``results.json`` last) and the previous evaluation's files that the new one did not write are
removed. A command that later takes the run's lock finishes a move it finds half done
(``.eval-commit/``) and discards an unfinished staging directory, so after SIGTERM, SIGKILL, a full
disk or an unwritable target the run shows the previous evaluation or the new one, whole.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from mathpe_jax.run.directory import WorkdirUnusable
from mathpe_jax.run.layout import (
    ATTENTION,
    EVAL_COMMIT,
    EVAL_MANIFEST,
    EVAL_STAGING,
    GRID_PREDICTIONS,
    PREDICTIONS,
    RESULTS,
    ROBUSTNESS_PREDICTIONS,
    fsync,
)

# Everything an evaluation writes in the run directory, in the order it is moved into place:
# results.json last, so that it never describes files that are not there yet.
EVALUATION_FILES = (PREDICTIONS, GRID_PREDICTIONS, ROBUSTNESS_PREDICTIONS, ATTENTION, RESULTS)
_DIRECTORIES = (ATTENTION,)


def stage(workdir: str | Path) -> Path:
    """A new, empty staging directory for an evaluation of ``workdir`` (the caller holds its lock).
    A target that evaluation could not replace is refused now, before the decoding starts."""
    workdir = Path(workdir)
    recover(workdir)
    _check_targets(workdir)
    staging = workdir / EVAL_STAGING
    staging.mkdir()
    return staging


def commit(workdir: str | Path) -> None:
    """Replaces the run's evaluation by the staged one: checks every target first, makes the
    staged files durable, then switches (see the module docstring)."""
    workdir = Path(workdir)
    staging = workdir / EVAL_STAGING
    _check_targets(workdir)
    written = [name for name in EVALUATION_FILES if (staging / name).exists()]
    (staging / EVAL_MANIFEST).write_text(json.dumps(written))
    _sync_tree(staging)
    os.replace(staging, workdir / EVAL_COMMIT)
    fsync(workdir)
    _finish(workdir)


def recover(workdir: str | Path) -> None:
    """Finishes a commit that a killed process left half done and discards unfinished staging."""
    workdir = Path(workdir)
    if (workdir / EVAL_COMMIT).is_dir():
        _finish(workdir)
    if (workdir / EVAL_STAGING).exists():
        shutil.rmtree(workdir / EVAL_STAGING)


def discard(workdir: str | Path) -> None:
    """Removes the staging directory of an evaluation that failed; the run keeps its previous one."""
    shutil.rmtree(Path(workdir) / EVAL_STAGING, ignore_errors=True)


def _check_targets(workdir: Path) -> None:
    """Each file evaluation replaces is absent or of the kind it writes (a file, or the heatmaps'
    directory), and not a link that would send the new file elsewhere."""
    for name in EVALUATION_FILES:
        path, directory = workdir / name, name in _DIRECTORIES
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or path.is_dir() != directory:
            kind = "a symbolic link" if path.is_symlink() else "a directory" if path.is_dir() else "a file"
            raise WorkdirUnusable(
                f"{path} is {kind}, not {'a directory' if directory else 'a file'} as evaluation writes it; "
                "move it away and evaluate again (the previous evaluation is unchanged)"
            )


def _finish(workdir: Path) -> None:
    """Moves the committed files into place; safe to repeat after an interruption at any point."""
    committed = workdir / EVAL_COMMIT
    written = set(json.loads((committed / EVAL_MANIFEST).read_text()))
    for name in EVALUATION_FILES:
        source, target = committed / name, workdir / name
        if name in written and source.exists():
            if name in _DIRECTORIES and target.is_dir():
                old = committed / f"{name}.previous"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
            os.replace(source, target)
        elif name not in written and target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    fsync(workdir)
    shutil.rmtree(committed)


def _sync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        fsync(path)
    fsync(root)
