"""Library INFO lines are dropped by default and kept with --verbose; our own and warnings always pass."""

from __future__ import annotations

import logging as logging_std

from absl import logging

from mathpe_jax import logs


def record(pathname: str, level: int) -> logging_std.LogRecord:
    return logging_std.LogRecord("absl", level, pathname, 1, "message", None, None)


def test_library_info_is_dropped_and_ours_kept():
    handler = logging.get_absl_handler()
    before = list(handler.filters)
    levels = {name: logging_std.getLogger(name).level for name in logs.NOISY_LOGGERS}
    try:
        logs.quiet_library_logs()
        passes = lambda path, level: all(f.filter(record(path, level)) for f in handler.filters)  # noqa: E731
        assert not passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.INFO)
        assert not passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.WARNING)
        assert passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.ERROR)
        assert not passes("/site-packages/jax/_src/compiler.py", logging_std.INFO)
        assert passes("/site-packages/jax/_src/compiler.py", logging_std.WARNING)
        assert passes("/repo/mathpe_jax/train/trainer.py", logging_std.INFO)
    finally:
        handler.filters[:] = before
        for name, level in levels.items():
            logging_std.getLogger(name).setLevel(level)


def test_verbose_changes_nothing():
    handler = logging.get_absl_handler()
    before = list(handler.filters)
    logs.quiet_library_logs(verbose=True)
    assert handler.filters == before
