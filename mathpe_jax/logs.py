"""Library log noise: Orbax, absl and JAX print INFO lines that bury a command's own output.

Every entry point (``main`` and ``tools/*.py``) calls ``quiet_library_logs(verbose)`` once; the
libraries' warnings still show, and ``--verbose`` brings their INFO lines back.

Orbax reads and writes checkpoints with asyncio tasks and threads. When a file is truncated or the
disk is full, each of them reports the same failure with a traceback of its own (dozens of them,
some only when the interpreter collects the failed tasks) before the one error the command itself
explains. Without ``--verbose`` those echoes are dropped: Orbax's error records, tracebacks passing
through Orbax or TensorStore, and asyncio's "Event loop is closed" from a read that finished after
its loop was closed.
"""

from __future__ import annotations

import logging as logging_std
import sys
from types import TracebackType

from absl import logging

# Loggers whose INFO lines are per-save or per-compile chatter, not news for the person at the terminal,
# with the level from which they still speak. Orbax warns about routine states too (a step saved
# without its metadata file), and its errors repeat a failure that the command reports itself.
NOISY_LOGGERS = {
    "orbax": logging_std.CRITICAL,
    "jax": logging_std.WARNING,
    "etils": logging_std.WARNING,
    "tensorstore": logging_std.WARNING,
    "fontTools": logging_std.WARNING,  # the report's PDF: one line per font table subset
}


# Libraries whose failed background work surfaces again as the command's own error.
_ECHOING = ("/orbax/", "/tensorstore/")


def _passes_through(tb: TracebackType | None, parts: tuple[str, ...]) -> bool:
    while tb is not None:
        if any(part in tb.tb_frame.f_code.co_filename for part in parts):
            return True
        tb = tb.tb_next
    return False


def _is_late_read(exc: BaseException | None, tb: TracebackType | None) -> bool:
    """asyncio's refusal of a result that a library thread delivered after its loop was closed."""
    return isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed" and _passes_through(tb, ("/asyncio/",))


def _is_echo(exc: BaseException | None, tb: TracebackType | None = None) -> bool:
    """A checkpoint library's failure, from any of its tasks or threads, which the command reports
    in its own words."""
    if _is_late_read(exc, tb or (exc.__traceback__ if exc is not None else None)):
        return True
    while exc is not None:
        if _passes_through(tb or exc.__traceback__, _ECHOING):
            return True
        exc = exc.__cause__ or exc.__context__
        tb = None
    return False


class _DropLibraryInfo(logging_std.Filter):
    """Drops the noisy libraries' records below their level (absl's handler routes them all) and
    records that only repeat a checkpoint library's failure."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        if record.exc_info and _is_echo(record.exc_info[1], record.exc_info[2]):
            return False
        for name, level in NOISY_LOGGERS.items():
            if f"/{name}/" in record.pathname:
                return record.levelno >= level
        return True


def _quiet_hooks() -> None:
    """Drops the echoes that bypass logging: exceptions of collected coroutines (unraisable), and
    "Event loop is closed" from callbacks that library threads run (printed through
    ``sys.excepthook``, which otherwise keeps every traceback: an uncaught error is a bug)."""
    unraisable, excepthook = sys.unraisablehook, sys.excepthook

    def quiet_unraisable(info) -> None:
        if not _is_echo(info.exc_value, info.exc_traceback):
            unraisable(info)

    def quiet_excepthook(kind, value, tb) -> None:
        if not _is_late_read(value, tb):
            excepthook(kind, value, tb)

    sys.unraisablehook, sys.excepthook = quiet_unraisable, quiet_excepthook


def quiet_library_logs(verbose: bool = False) -> None:
    """Hides the INFO lines of checkpointing and compilation libraries unless ``verbose``."""
    if verbose:
        return
    for name, level in NOISY_LOGGERS.items():
        logging_std.getLogger(name).setLevel(level)
    logging.get_absl_handler().addFilter(_DropLibraryInfo())
    _quiet_hooks()
