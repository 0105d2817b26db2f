"""Session-wide tiny Hugging Face checkpoints, one per architecture, shared by the conversion tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.convert.tiny_hf import CONFIGS, save_hf, tiny_hf_model

PROMPT_LEN = 260  # > 256: RoPE is the identity at position 0, so only a long prompt exposes its bugs


@pytest.fixture(scope="session")
def hf_dirs(tmp_path_factory) -> dict[str, Path]:
    """model_type -> saved directory; Mistral's is sharded (with an index), the others single-file."""
    dirs = {}
    for seed, model_type in enumerate(sorted(CONFIGS)):
        shard = {"max_shard_size": "40KB"} if model_type == "mistral" else {}
        dirs[model_type] = save_hf(tiny_hf_model(model_type, seed), tmp_path_factory.mktemp(model_type), **shard)
    return dirs


@pytest.fixture(scope="session")
def prompt() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(2, PROMPT_LEN))
