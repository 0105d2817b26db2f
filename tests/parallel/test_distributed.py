"""Multi-host start-up from the environment: every bad variable, and a peer that never joins, is one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from mathpe_jax.parallel import distributed
from mathpe_jax.parallel.distributed import DistributedError, join_settings
from tests.conftest import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(monkeypatch):
    for name in ("MATHPE_COORDINATOR", "MATHPE_NUM_PROCESSES", "MATHPE_PROCESS_ID", "MATHPE_JOIN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"MATHPE_{key.upper()}", value)

    return set_env


def test_no_coordinator_is_single_process(env):
    assert join_settings() is None


def test_settings_with_default_timeout(env):
    env(coordinator="node001:1234", num_processes="4", process_id="3")
    assert join_settings() == ("node001:1234", 4, 3, distributed.DEFAULT_JOIN_TIMEOUT)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"coordinator": "node001", "num_processes": "2", "process_id": "0"}, "MATHPE_COORDINATOR='node001' must be host:port"),
        ({"coordinator": "node001:http", "num_processes": "2", "process_id": "0"}, "must be host:port"),
        ({"coordinator": "n:1", "num_processes": "two", "process_id": "0"}, "MATHPE_NUM_PROCESSES='two' is not an integer"),
        ({"coordinator": "n:1", "num_processes": "2", "process_id": "2"}, "MATHPE_PROCESS_ID=2 must be between 0 and 1"),
        ({"coordinator": "n:1", "num_processes": "2"}, "MATHPE_PROCESS_ID must be set too"),
        ({"coordinator": "n:1", "num_processes": "0", "process_id": "0"}, "MATHPE_NUM_PROCESSES=0 must be >= 1"),
        ({"coordinator": "n:1", "num_processes": "2", "process_id": "0", "join_timeout": "5s"},
         "MATHPE_JOIN_TIMEOUT='5s' is not an integer"),
    ],
)
def test_bad_variables(env, values, message):
    env(**values)
    with pytest.raises(DistributedError, match=message.replace("(", r"\(").replace("?", r"\?")):
        join_settings()


JOIN_ALONE = """
import sys
from mathpe_jax.parallel.distributed import initialize_from_env
from mathpe_jax.errors import UserError
try:
    initialize_from_env()
except UserError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_peer_that_never_joins_fails_in_one_line_within_the_timeout():
    """Two processes expected, one started: no C++ abort and stack trace, one line naming the coordinator."""
    coordinator = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(REPO_ROOT),
        "MATHPE_COORDINATOR": coordinator,
        "MATHPE_NUM_PROCESSES": "2",
        "MATHPE_PROCESS_ID": "0",
        "MATHPE_JOIN_TIMEOUT": "2",
    }
    done = subprocess.run([sys.executable, "-c", JOIN_ALONE], env=env, capture_output=True, text=True, timeout=600)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    # "within 2 s": the join gave up after MATHPE_JOIN_TIMEOUT, not the default of minutes
    assert lines[0].startswith("error: process 0 of 2") and coordinator in lines[0] and "within 2 s" in lines[0]


def test_heartbeat_timeout_from_the_environment(env, monkeypatch):
    assert distributed.heartbeat_timeout() == distributed.DEFAULT_HEARTBEAT_TIMEOUT
    monkeypatch.setenv("MATHPE_HEARTBEAT_TIMEOUT", "7")
    assert distributed.heartbeat_timeout() == 7
    monkeypatch.setenv("MATHPE_HEARTBEAT_TIMEOUT", "0")
    with pytest.raises(DistributedError, match="MATHPE_HEARTBEAT_TIMEOUT=0 must be >= 1"):
        distributed.heartbeat_timeout()


# Joins, waits at a barrier, says so on stdout, then either sleeps or runs collectives until stopped.
JOIN_AND_WAIT = """
import sys, time
import jax, jax.numpy as jnp
from jax.experimental import multihost_utils
from mathpe_jax.parallel.distributed import initialize_from_env
initialize_from_env()
multihost_utils.sync_global_devices("joined")
print("joined", flush=True)
if sys.argv[1] == "sleep":
    time.sleep(600)
while True:
    multihost_utils.process_allgather(jnp.ones(3))
    time.sleep(0.05)
"""


def _start_pair(mode: str, heartbeat: int = 5) -> list[subprocess.Popen]:
    coordinator = f"127.0.0.1:{free_port()}"
    procs = []
    for process_id in range(2):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": str(REPO_ROOT),
            "MATHPE_COORDINATOR": coordinator,
            "MATHPE_NUM_PROCESSES": "2",
            "MATHPE_PROCESS_ID": str(process_id),
            "MATHPE_JOIN_TIMEOUT": "120",
            "MATHPE_HEARTBEAT_TIMEOUT": str(heartbeat),
        }
        env.pop("MATHPE_RAW_STDERR", None)
        procs.append(subprocess.Popen([sys.executable, "-c", JOIN_AND_WAIT, mode], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize(
    "victim, mode",
    [
        (1, "collectives"),  # the coordinator survives, its collective fails, the service names the loss
        (0, "sleep"),  # the coordinator itself is killed under a sleeping peer
    ],
)
def test_a_killed_peer_ends_the_other_process_in_one_line(victim, mode):
    """SIGKILL one of two joined processes: the other exits non-zero within a bound set by
    MATHPE_HEARTBEAT_TIMEOUT, with one line naming the lost process and no C++ stack trace."""
    procs = _start_pair(mode, heartbeat=5)
    survivor = 1 - victim
    try:
        for proc in procs:  # the barrier guarantees both joined once either prints (gloo prints too)
            lines = iter(proc.stdout.readline, "")
            assert "joined\n" in lines, proc.stderr.read()
        procs[victim].kill()
        procs[victim].wait(timeout=30)
        start = time.monotonic()
        _, stderr = procs[survivor].communicate(timeout=600)
        elapsed = time.monotonic() - start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert procs[survivor].returncode != 0, stderr[-3000:]
    assert elapsed < 60, elapsed
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith(f"error: process {survivor} of 2: lost process {victim} of 2"), lines[0]
    assert "rerun the job" in lines[0]
    if victim == 0:
        assert "the coordinator at 127.0.0.1:" in lines[0]


@pytest.mark.subprocess
def test_the_guard_passes_ordinary_output_and_tracebacks_through():
    """Without a lost peer the guard is invisible: every line (a traceback included) reaches stderr."""
    text = "a line\nTraceback (most recent call last):\n  File 'x', line 1\nValueError: boom\npartial"
    done = subprocess.run([sys.executable, "-S", distributed.GUARD_SCRIPT, "0", "2", "h:1", "5", "60"],
                          input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stderr == text


@pytest.mark.subprocess
def test_the_guard_names_the_tasks_the_service_lists():
    runtime = (
        "step 10 loss 1.0\n"
        "E1201 23:56:30.397987   24774 coordination_service.cc:1549] [1] Use error polling to propagate the "
        "following error to all tasks: UNAVAILABLE: The following tasks are unhealthy (stopped sending heartbeats):\n"
        "2\n/job:jax_worker/replica:0/task:3\nThe tasks have crashed. Check the task logs.\n"
        "terminate called after throwing an instance of 'std::bad_cast'\n  what():  std::bad_cast\n"
    )
    done = subprocess.run([sys.executable, "-S", distributed.GUARD_SCRIPT, "0", "4", "h:1", "9", "60"],
                          input=runtime, capture_output=True, text=True, timeout=60)
    assert done.stderr.splitlines() == [
        "step 10 loss 1.0",
        (
            "error: process 0 of 4: lost process 2, 3 of 4 (no heartbeat for 9 s): it stopped or became unreachable; "
            "rerun the job to resume from the last checkpoint"
        ),
    ]


@pytest.mark.subprocess
def test_the_guard_shows_what_it_kept_back_when_the_process_lives_on():
    """A lost-peer report followed by output after the grace period was transient: nothing is hidden."""
    guard = subprocess.Popen([sys.executable, "-S", distributed.GUARD_SCRIPT, "1", "3", "h:1", "5", "0.5"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    guard.stdin.write(b"W1201 00:00:00.000000 1 preemption_sync_manager.cc:1] from coordination service: UNAVAILABLE\n")
    guard.stdin.flush()
    time.sleep(1.5)
    guard.stdin.write(b"step 20\n")
    _, stderr = guard.communicate(timeout=60)
    assert stderr.decode().splitlines() == [
        "W1201 00:00:00.000000 1 preemption_sync_manager.cc:1] from coordination service: UNAVAILABLE",
        "step 20",
    ]
