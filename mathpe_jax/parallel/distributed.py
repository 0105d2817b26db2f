"""Multi-host start-up: one process per node, coordinates from the environment.

``launch/node.pbs`` (or any launcher) exports ``MATHPE_COORDINATOR`` (host:port),
``MATHPE_NUM_PROCESSES`` and ``MATHPE_PROCESS_ID``, and optionally ``MATHPE_JOIN_TIMEOUT``
(seconds every process waits for the others, default 300) and ``MATHPE_HEARTBEAT_TIMEOUT``
(seconds without a heartbeat after which a process counts as lost, default 60); without a
coordinator the run is single-process. Every mistake in them, and a peer that never joins, ends in
one line.

A peer lost after the join (killed, its node down) ends every other process within about the
heartbeat timeout, non-zero, with one line on stderr naming the lost process when the runtime says
which (or when the run has only two). The runtime's own reaction is a C++ abort with several lines
of log and a stack trace, and it cannot be intercepted in Python: the C++ error callback's argument
does not convert to a Python object (``std::bad_cast``), and without a callback the client aborts
by design. So a multi-process run sends its stderr through a small guard process (``stderr_guard.py``)
that passes every line through until the runtime reports a lost peer, then keeps the rest (runtime
log, Python traceback of the failed collective, C++ stack trace) to itself and, when the process has
ended, writes the one line. ``MATHPE_RAW_STDERR=1`` turns the guard off (the runtime's own output).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import jax
from absl import logging

from mathpe_jax.errors import UserError

ENV_COORDINATOR = "MATHPE_COORDINATOR"
ENV_NUM_PROCESSES = "MATHPE_NUM_PROCESSES"
ENV_PROCESS_ID = "MATHPE_PROCESS_ID"
ENV_JOIN_TIMEOUT = "MATHPE_JOIN_TIMEOUT"
ENV_HEARTBEAT_TIMEOUT = "MATHPE_HEARTBEAT_TIMEOUT"
ENV_RAW_STDERR = "MATHPE_RAW_STDERR"
DEFAULT_JOIN_TIMEOUT = 300
DEFAULT_HEARTBEAT_TIMEOUT = 60


class DistributedError(UserError):
    """A multi-host environment that cannot start: a bad variable or a peer that never joined."""


def _env_int(name: str, low: int, high: int | None = None, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None and default is not None:
        return default
    if raw is None:
        raise DistributedError(f"{ENV_COORDINATOR} is set, so {name} must be set too")
    try:
        value = int(raw)
    except ValueError:
        raise DistributedError(f"{name}={raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise DistributedError(f"{name}={value} must be {bound}")
    return value


def _check_coordinator(coordinator: str) -> None:
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"{ENV_COORDINATOR}={coordinator!r} must be host:port (e.g. node001:1234)")


def join_settings() -> tuple[str, int, int, int] | None:
    """(coordinator, number of processes, this process's id, join timeout in seconds) from the
    environment, or None for a single-process run; a bad value raises ``DistributedError``."""
    coordinator = os.environ.get(ENV_COORDINATOR)
    if not coordinator:
        return None
    _check_coordinator(coordinator)
    num_processes = _env_int(ENV_NUM_PROCESSES, 1)
    process_id = _env_int(ENV_PROCESS_ID, 0, num_processes - 1)
    timeout = _env_int(ENV_JOIN_TIMEOUT, 1, default=DEFAULT_JOIN_TIMEOUT)
    return coordinator, num_processes, process_id, timeout


def heartbeat_timeout() -> int:
    """Seconds without a heartbeat after which the runtime declares a process lost."""
    return _env_int(ENV_HEARTBEAT_TIMEOUT, 1, default=DEFAULT_HEARTBEAT_TIMEOUT)


@contextlib.contextmanager
def _stderr_captured() -> Iterator[BinaryIO]:
    """Sends file descriptor 2 (where the C++ runtime logs) to a temporary file for a while."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _peer_lost(coordinator: str):
    """The client's error callback: one line and exit 1. Its presence is what makes a failed join
    raise; the runtime of jax 0.10 cannot call it later (see the module docstring), should a
    later one manage to, it still ends the process in one line."""

    def report(*_) -> None:
        message = (
            f"error: lost contact with the other processes of this run (coordinator {coordinator}): "
            "a peer stopped or became unreachable; rerun the job to resume from the last checkpoint\n"
        )
        os.write(2, message.encode())
        os._exit(1)

    return report


@contextlib.contextmanager
def _recoverable_client(coordinator: str) -> Iterator[None]:
    """Gives the runtime client an error callback while ``jax.distributed.initialize`` runs.

    Without one, the C++ client aborts the process (a stack trace, exit 134) when the others do not
    register in time; with one, ``connect`` raises and we can say what happened in one line. The
    callback stays with the client, but when the runtime calls it later (a lost peer) the C++ side
    fails to convert its status argument and aborts before Python runs: the stderr guard deals with
    that case.
    """
    from jax._src import distributed as jax_distributed

    factory = jax_distributed._jax.get_distributed_runtime_client

    def client(*args, **kwargs):
        return factory(*args, missed_heartbeat_callback=_peer_lost(coordinator), **kwargs)

    jax_distributed._jax.get_distributed_runtime_client = client
    try:
        yield
    finally:
        jax_distributed._jax.get_distributed_runtime_client = factory


GUARD_SCRIPT = os.path.join(os.path.dirname(__file__), "stderr_guard.py")


def _guard_stderr(process_id: int, num_processes: int, coordinator: str, heartbeat: int) -> None:
    """Sends this process's file descriptor 2 through the guard (see the module docstring)."""
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-S", GUARD_SCRIPT, str(process_id), str(num_processes), coordinator, str(heartbeat),
             str(heartbeat + 30)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the run, not its guard
        )
    except OSError as err:  # no guard: the runtime's own output, as with MATHPE_RAW_STDERR=1
        logging.warning("stderr guard not started (%s): a lost peer will show the runtime's own output", err)
    else:
        sys.stderr.flush()
        os.dup2(write_end, 2)
    finally:
        os.close(read_end)
        os.close(write_end)


def _forget_failed_start() -> None:
    """Drops the half-started client and service so that exiting does not wait on them."""
    from jax._src import distributed as jax_distributed

    state = jax_distributed.global_state
    state.client = None
    if state.service is not None:
        state.service.shutdown()
        state.service = None


def initialize_from_env() -> bool:
    """Calls ``jax.distributed.initialize`` when the environment names a coordinator.

    Returns whether it did. On CPU the collectives go through gloo, so several local processes
    can stand in for several nodes. The runtime's own log lines are shown only if the join succeeds.
    """
    settings = join_settings()
    if settings is None:
        return False
    coordinator, num_processes, process_id, timeout = settings
    heartbeat = heartbeat_timeout()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # affects CPU devices only
    with _stderr_captured() as log:
        try:
            with _recoverable_client(coordinator):
                jax.distributed.initialize(
                    coordinator,
                    num_processes=num_processes,
                    process_id=process_id,
                    initialization_timeout=timeout,
                    heartbeat_timeout_seconds=heartbeat,
                )
        except Exception:  # the runtime raises a bare RuntimeError whatever went wrong
            _forget_failed_start()
            joined = False
        else:
            joined = True
            log.seek(0)
            runtime_log = log.read()
    if not joined:
        raise DistributedError(
            f"process {process_id} of {num_processes}: not all processes joined coordinator {coordinator} "
            f"within {timeout} s ({ENV_JOIN_TIMEOUT}); check that every node started and can reach it"
        )
    os.write(2, runtime_log)
    if os.environ.get(ENV_RAW_STDERR, "") in ("", "0"):
        _guard_stderr(process_id, num_processes, coordinator, heartbeat)
    logging.info("process %d of %d, coordinator %s", process_id, num_processes, coordinator)
    return True
