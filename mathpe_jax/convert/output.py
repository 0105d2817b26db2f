"""Where a conversion may write, and writing there so that nothing the user had is lost.

A conversion reads its inputs for minutes and can fail at any point (a damaged tensor, a full disk,
Ctrl-C), so it never writes into its output directly. It writes into a staging directory beside the
output (on the same filesystem, so files move by rename) and only once every file is complete are
they renamed into the output; what they replace is set aside until then and put back if that fails.
An output that is, holds or lies inside one of the conversion's inputs is refused before anything
is read: replacing it would destroy what is being converted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from mathpe_jax.convert.errors import ConversionError


def real(path: Path) -> Path:
    """``path`` with every symlink resolved, so two spellings of one directory compare equal."""
    return Path(os.path.realpath(path))


def check_apart(flag: str, out: Path, inputs: Mapping[str, Path]) -> None:
    """Refuses an ``out`` that is, holds or lies inside any of ``inputs`` (label -> path)."""
    target = real(out)
    for label, path in inputs.items():
        source = real(path)
        if target == source or source in target.parents or target in source.parents:
            relation = "is" if target == source else "lies inside" if source in target.parents else "holds"
            raise ConversionError(f"{flag}={out} {relation} {label}={path}; write the conversion somewhere else")


def replaced(out: Path, written: Iterable[str]) -> list[Path]:
    """The entries of ``out`` that a conversion writing the ``written`` glob patterns replaces."""
    return sorted({path for pattern in written for path in out.glob(pattern)}) if out.is_dir() else []


@contextlib.contextmanager
def staged(flag: str, out: Path, written: Iterable[str], overwrite: bool) -> Iterator[Path]:
    """Yields an empty staging directory for the conversion to write ``out``'s files into.

    ``out`` must be new or empty, unless ``overwrite``: then the entries matching ``written`` are
    replaced and everything else in ``out`` stays. On a clean exit the staged files are renamed into
    ``out``; on any exception (Ctrl-C included) the staging directory is removed and ``out`` is as it was.
    """
    written = tuple(written)
    if out.exists() and not out.is_dir():
        raise ConversionError(f"{flag}={out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConversionError(f"{flag}={out} is not empty; choose a new directory or pass --overwrite")
    target = real(out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    except OSError as err:
        raise ConversionError(f"{flag}={out}: cannot create a staging directory beside it ({err.strerror})") from None
    new, old = staging / "new", staging / "old"
    new.mkdir()
    old.mkdir()
    try:
        yield new
        _commit(flag, new, target, written, old)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        with contextlib.suppress(OSError):  # kept if something set aside could not be put back
            old.rmdir()
            staging.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)  # what the new files replaced


def _commit(flag: str, new: Path, out: Path, written: tuple[str, ...], old: Path) -> None:
    """Renames the staged entries into ``out``, setting aside the ones they replace; undone on failure."""
    if not out.is_dir() or not any(out.iterdir()):
        os.replace(new, out)  # a new or empty output: one atomic rename
        return
    aside = replaced(out, written)
    clash = sorted(e.name for e in new.iterdir() if (out / e.name).exists() and out / e.name not in aside)
    if clash:
        raise ConversionError(f"{flag}={out} holds {clash[0]}, which a conversion does not replace; move it away")
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for path in aside:
            os.replace(path, old / path.name)
            moved_aside.append(path.name)
        for entry in sorted(new.iterdir()):
            os.replace(entry, out / entry.name)
            moved_in.append(entry.name)
    except BaseException:
        for name in reversed(moved_in):
            os.replace(out / name, new / name)
        for name in reversed(moved_aside):
            os.replace(old / name, out / name)
        raise
