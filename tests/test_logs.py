"""Library INFO lines are dropped by default and kept with --verbose; our own and warnings always
pass; the echoes of a failed checkpoint read or write (from Orbax's tasks and threads) are dropped."""

from __future__ import annotations

import asyncio
import gc
import logging as logging_std
import sys

import pytest
from absl import logging

from mathpe_jax import logs


def record(pathname: str, level: int) -> logging_std.LogRecord:
    return logging_std.LogRecord("absl", level, pathname, 1, "message", None, None)


@pytest.fixture
def quiet():
    """``quiet_library_logs()`` for one test: the handler's filters, levels and hooks restored after."""
    handler = logging.get_absl_handler()
    before = list(handler.filters)
    levels = {name: logging_std.getLogger(name).level for name in logs.NOISY_LOGGERS}
    hooks = sys.unraisablehook, sys.excepthook
    # Python's own hooks underneath (pytest's would turn what passes into warnings): what passes prints.
    sys.unraisablehook, sys.excepthook = sys.__unraisablehook__, sys.__excepthook__
    try:
        logs.quiet_library_logs()
        yield handler
    finally:
        handler.filters[:] = before
        for name, level in levels.items():
            logging_std.getLogger(name).setLevel(level)
        sys.unraisablehook, sys.excepthook = hooks


def test_library_info_is_dropped_and_ours_kept(quiet):
    handler = quiet
    if True:
        passes = lambda path, level: all(f.filter(record(path, level)) for f in handler.filters)  # noqa: E731
        assert not passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.INFO)
        assert not passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.WARNING)
        assert not passes("/site-packages/orbax/checkpoint/checkpointer.py", logging_std.ERROR)  # its failures come back to us
        assert not passes("/site-packages/jax/_src/compiler.py", logging_std.INFO)
        assert passes("/site-packages/jax/_src/compiler.py", logging_std.WARNING)
        assert passes("/repo/mathpe_jax/train/trainer.py", logging_std.INFO)


# A coroutine that fails as Orbax's array reads do, compiled as if it were Orbax's own code.
_ORBAX_READS = compile(
    """
FAILURE = 'OUT_OF_RANGE: Requested byte range is not valid for value of size 100'

async def read_array():
    raise ValueError(FAILURE)

class Pending:
    def __await__(self):
        yield

async def read_array_cancelled():
    try:
        await Pending()
    finally:
        raise ValueError(FAILURE)
""",
    "/site-packages/orbax/checkpoint/_src/serialization/serialization.py", "exec",
)


def orbax_read(name: str = "read_array"):
    namespace = {}
    exec(_ORBAX_READS, namespace)
    return namespace[name]()


def failed_task_collected() -> None:
    """What Orbax leaves when one read of a step fails: a task whose exception nobody retrieved,
    reported by asyncio when the task is collected."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(orbax_read())
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    del task
    gc.collect()


def late_result_on_a_closed_loop() -> None:
    """A library thread delivering a read's result after the loop that asked for it was closed."""
    loop = asyncio.new_event_loop()
    loop.close()
    try:
        loop.call_soon_threadsafe(print)
    except RuntimeError:
        sys.excepthook(*sys.exc_info())


def test_the_echoes_of_a_failed_checkpoint_read_are_dropped(quiet, caplog, capfd):
    with caplog.at_level(logging_std.ERROR, logger="asyncio"):
        failed_task_collected()
    [record] = [r for r in caplog.records if "exception was never retrieved" in r.getMessage()]
    assert not all(f.filter(record) for f in quiet.filters)
    late_result_on_a_closed_loop()
    pending = orbax_read("read_array_cancelled")
    pending.send(None)
    del pending  # closed when collected; its exception goes to sys.unraisablehook
    gc.collect()
    assert "Traceback" not in capfd.readouterr().err


def test_without_quieting_they_are_tracebacks(capfd, monkeypatch):
    # Python's own hooks, whatever an entry point run in this process installed before.
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    late_result_on_a_closed_loop()
    pending = orbax_read("read_array_cancelled")
    pending.send(None)
    del pending
    gc.collect()
    err = capfd.readouterr().err
    assert "RuntimeError: Event loop is closed" in err and "Exception ignored in: <coroutine" in err


def test_an_uncaught_error_keeps_its_traceback_even_from_a_library(quiet, capfd):
    try:
        raise KeyError("a bug")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    assert "KeyError: 'a bug'" in capfd.readouterr().err


def test_verbose_changes_nothing():
    handler = logging.get_absl_handler()
    before = list(handler.filters)
    logs.quiet_library_logs(verbose=True)
    assert handler.filters == before
