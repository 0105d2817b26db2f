"""Library log noise: Orbax, absl and JAX print INFO lines that bury a command's own output.

Every entry point (``main`` and ``tools/*.py``) calls ``quiet_library_logs(verbose)`` once; the
libraries' warnings and errors still show, and ``--verbose`` brings their INFO lines back.
"""

from __future__ import annotations

import logging as logging_std

from absl import logging

# Loggers whose INFO lines are per-save or per-compile chatter, not news for the person at the terminal.
NOISY_LOGGERS = ("orbax", "jax", "etils", "tensorstore")


class _DropLibraryInfo(logging_std.Filter):
    """Keeps warnings and errors of the noisy libraries, drops their INFO (absl routes them all)."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        if record.levelno >= logging_std.WARNING:
            return True
        return not any(f"/{name}/" in record.pathname for name in ("orbax", "jax", "etils"))


def quiet_library_logs(verbose: bool = False) -> None:
    """Hides the INFO lines of checkpointing and compilation libraries unless ``verbose``."""
    if verbose:
        return
    for name in NOISY_LOGGERS:
        logging_std.getLogger(name).setLevel(logging_std.WARNING)
    logging.get_absl_handler().addFilter(_DropLibraryInfo())
