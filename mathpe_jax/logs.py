"""Library log noise: Orbax, absl and JAX print INFO lines that bury a command's own output.

Every entry point (``main`` and ``tools/*.py``) calls ``quiet_library_logs(verbose)`` once; the
libraries' warnings and errors still show, and ``--verbose`` brings their INFO lines back.
"""

from __future__ import annotations

import logging as logging_std

from absl import logging

# Loggers whose INFO lines are per-save or per-compile chatter, not news for the person at the terminal,
# with the level from which they still speak. Orbax warns about routine states too (a step saved
# without its metadata file), so only its errors pass.
NOISY_LOGGERS = {
    "orbax": logging_std.ERROR,
    "jax": logging_std.WARNING,
    "etils": logging_std.WARNING,
    "tensorstore": logging_std.WARNING,
    "fontTools": logging_std.WARNING,  # the report's PDF: one line per font table subset
}


class _DropLibraryInfo(logging_std.Filter):
    """Drops the noisy libraries' records below their level (absl's handler routes them all)."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        for name, level in NOISY_LOGGERS.items():
            if f"/{name}/" in record.pathname:
                return record.levelno >= level
        return True


def quiet_library_logs(verbose: bool = False) -> None:
    """Hides the INFO lines of checkpointing and compilation libraries unless ``verbose``."""
    if verbose:
        return
    for name, level in NOISY_LOGGERS.items():
        logging_std.getLogger(name).setLevel(level)
    logging.get_absl_handler().addFilter(_DropLibraryInfo())
