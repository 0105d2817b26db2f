"""Heatmap files and their token labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mathpe_jax.data.tokenizer import CharTokenizer
from mathpe_jax.eval.attention.heatmaps import save_heatmaps, token_labels


def _causal_uniform(t: int) -> np.ndarray:
    """Row i attends uniformly to keys 0..i."""
    mask = np.tril(np.ones((t, t)))
    return mask / mask.sum(axis=-1, keepdims=True)


def test_token_labels_name_special_tokens_and_escape_dollars() -> None:
    tok = CharTokenizer("0123$\n")
    ids = [tok.bos_id, *tok.encode("1$\n"), tok.eos_id]
    assert token_labels(tok, ids) == ["<bos>", "1", r"\$", "\\n", "<eos>"]


def test_save_heatmaps(tmp_path: Path) -> None:
    t = 6
    probs = np.broadcast_to(_causal_uniform(t), (2, 2, t, t))
    tokens = ["<bos>", "2", "+", "3", "=", "5"]
    paths = save_heatmaps(probs, tokens, tmp_path / "maps", [(0, 1), (1, 0)])
    assert [p.name for p in paths] == ["attn_L00_H01.png", "attn_L01_H00.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        save_heatmaps(probs, tokens[:-1], tmp_path, [(0, 0)])
