"""Shared test set-up: the repository root on sys.path, the shared data directory, tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` beside the checkout (override with MATHPE_DATA_DIR)."""
    path = Path(os.environ.get("MATHPE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        raise FileNotFoundError(f"shared data directory not found: {path}")
    return path


def run_tool(script: str, *args: str, cwd: Path = REPO_ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python tools/<script> ARGS`` as a user runs it after ``pip install -e .``: the package is found
    through the import path (here PYTHONPATH, there the installed project), never a ``sys.path`` edit."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
