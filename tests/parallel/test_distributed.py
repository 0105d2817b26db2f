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
        "MATHPE_JOIN_TIMEOUT": "5",
    }
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", JOIN_ALONE], env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 90
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("error: process 0 of 2") and coordinator in lines[0] and "within 5 s" in lines[0]
