"""launch/node.pbs on a stand-in PBS: two "nodes" on this machine form one jax.distributed run.

pbsdsh is replaced by a script that runs the task locally, and the node file names this machine
twice (127.0.0.1 and localhost, plus a repeated slot line), so the script's node handling, its
per-node task and the multi-process run are all exercised.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers_run import TINY_OVERRIDES

FAKE_PBSDSH = """#!/bin/bash
# Stand-in for PBS's pbsdsh: run the task on this machine.
[ "$1" = -n ] && shift 2
[ "$1" = -- ] && shift
exec "$@"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def final_loss(workdir) -> float:
    return json.loads((workdir / "results.json").read_text())["train"]["final_loss"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_node_job_matches_the_one_device_run(tmp_path, trained_run):
    """The session's run on one device, the same config on two processes of one device each: the
    same global batch, split over a data axis of 2; only the order of float32 reductions differs
    (rel 1e-4, as for the 8-device mesh in tests/parallel/test_sharding.py)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pbsdsh").write_text(FAKE_PBSDSH)
    (bin_dir / "pbsdsh").chmod(0o755)
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("127.0.0.1\n127.0.0.1\nlocalhost\n")
    args = " ".join(f"--config.{k}={str(v).replace(' ', '')}" for k, v in TINY_OVERRIDES.items())
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PBS_NODEFILE": str(nodefile),
        "PBS_O_WORKDIR": str(REPO_ROOT),
        "CONFIG": "configs/rope.py",
        "WORKDIR": str(tmp_path / "multi"),
        "ARGS": args,
        "MATHPE_PORT": str(free_port()),
        "JAX_PLATFORMS": "cpu",
    }
    job = subprocess.run(["bash", "launch/node.pbs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "2 node(s), coordinator 127.0.0.1:" in job.stdout
    assert "process 1 of 2" in job.stderr
    multi = json.loads((tmp_path / "multi" / "results.json").read_text())
    assert multi["step"] == TINY_OVERRIDES["train.steps"]
    assert final_loss(tmp_path / "multi") == pytest.approx(final_loss(trained_run), rel=1e-4)


def test_without_a_node_file_it_says_to_submit_with_qsub(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PBS_NODEFILE"}
    job = subprocess.run(["bash", "launch/node.pbs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert job.returncode != 0 and "PBS_NODEFILE is not set: submit with qsub" in job.stderr
