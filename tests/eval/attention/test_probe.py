"""Attention probe: example choice, padding-free probabilities, the pooled section and its heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

from mathpe_jax.data.tokenizer import CharTokenizer
from mathpe_jax.eval.attention.probe import analyse_attention, attention_probs, spread
from tests.model.helpers import tiny_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_spread_picks_evenly_spaced_examples_first_and_last_included() -> None:
    assert spread(10, 4) == [0, 3, 6, 9]
    assert spread(3, 8) == [0, 1, 2]
    assert spread(0, 8) == []


@pytest.fixture(scope="module")
def model():
    return tiny_model("alibi")


def test_left_padding_does_not_change_the_probabilities(model) -> None:
    short, long = [1, 5, 7, 9, 11], list(range(1, 12))
    padded = attention_probs(model, [short, long], pad_id=0)
    assert [p.shape for p in padded] == [(2, 4, 5, 5), (2, 4, 11, 11)]
    out = model(np.asarray([short]), np.arange(5)[None], return_attention=True)
    direct = np.stack([np.asarray(p)[0] for p in out.attention])
    np.testing.assert_allclose(padded[0], direct, atol=1e-6)
    for p in padded:
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(p, k=1) == 0)  # causal


def test_analysis_pools_examples_and_writes_two_heatmaps(model, tmp_path) -> None:
    tok = CharTokenizer("0123456789+=")
    sequences = [[tok.bos_id, *tok.encode("1+2=3")], [tok.bos_id, *tok.encode("12+34=46"), tok.eos_id]]
    result = analyse_attention(model, tok, sequences, ["a", "b"], tmp_path, first_key_is_bos=True)
    assert result["examples"] == ["a", "b"] and result["heatmap_example"] == "b"
    assert result["n_rows"] == 6 + 10
    assert np.asarray(result["entropy"]).shape == (2, 4)
    assert np.all(np.asarray(result["bos_mass"]) > 0) and np.all(np.asarray(result["mean_distance"]) >= 0)
    assert result["heatmaps"] == ["attention/attn_L00_H00.png", "attention/attn_L01_H00.png"]
    for name in result["heatmaps"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    quiet = analyse_attention(model, tok, sequences, ["a", "b"], tmp_path / "other", first_key_is_bos=True, write=False)
    assert quiet["heatmaps"] == [] and not (tmp_path / "other").exists()
    assert quiet["entropy"] == result["entropy"]


def test_fused_attention_is_reported_as_skipped(tmp_path) -> None:
    fused = tiny_model("rope", attention_impl="cudnn")
    result = analyse_attention(fused, CharTokenizer(), [[1, 4]], ["a"], tmp_path, first_key_is_bos=True)
    assert set(result) == {"skipped"} and "cudnn" in result["skipped"]
