"""Shared test set-up: the repository root on sys.path, the shared data directory, tiny models."""

from __future__ import annotations

import os
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
