"""Attention entropy, distance and BOS mass on hand-computed patterns, and their pooling over examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mathpe_jax.eval.attention.stats import attention_stats, pool_stats


def _causal_uniform(t: int) -> np.ndarray:
    """Row i attends uniformly to keys 0..i."""
    mask = np.tril(np.ones((t, t)))
    return mask / mask.sum(axis=-1, keepdims=True)


def test_uniform_attention_has_entropy_log_n() -> None:
    s = 8
    probs = np.full((1, 1, 1, s), 1.0 / s)
    stats = attention_stats(probs, np.array([s - 1]), np.arange(s), np.ones(s, bool))
    assert stats["entropy"][0][0] == pytest.approx(math.log(s))
    assert stats["bos_mass"][0][0] == pytest.approx(1.0 / s)
    assert stats["mean_distance"][0][0] == pytest.approx(np.mean(np.arange(s)[::-1]))  # (7+6+...+0)/8
    assert stats["n_rows"] == 1


def test_one_hot_patterns() -> None:
    t = 5
    previous_token = np.eye(t, k=-1)
    previous_token[0, 0] = 1.0
    bos_sink = np.zeros((t, t))
    bos_sink[:, 0] = 1.0
    probs = np.stack([previous_token, bos_sink])[None]  # [1 layer, 2 heads, T, T]
    pos = np.arange(t)
    stats = attention_stats(probs, pos, pos, np.tril(np.ones((t, t), bool)))
    assert stats["entropy"] == [[0.0, 0.0]]
    assert stats["mean_distance"][0][0] == pytest.approx(
        4 / 5
    )  # rows 1..4 look back 1, row 0 looks at itself
    assert stats["mean_distance"][0][1] == pytest.approx(np.mean(pos))  # row i looks back i
    assert stats["bos_mass"][0][0] == pytest.approx(2 / 5)  # rows 0 and 1 both land on key 0
    assert stats["bos_mass"][0][1] == pytest.approx(1.0)


def test_causal_uniform_entropy_is_mean_of_logs() -> None:
    t = 6
    probs = np.broadcast_to(_causal_uniform(t), (2, 3, t, t))
    pos = np.arange(t)
    stats = attention_stats(probs, pos, pos, np.tril(np.ones((t, t), bool)))
    expected = np.mean([math.log(i + 1) for i in range(t)])
    assert np.allclose(stats["entropy"], expected)
    assert np.allclose(stats["mean_distance"], np.mean([i / 2 for i in range(t)]))
    assert np.allclose(stats["bos_mass"], np.mean([1 / (i + 1) for i in range(t)]))
    assert len(stats["entropy"]) == 2 and len(stats["entropy"][0]) == 3


def test_padding_rows_and_keys_are_excluded() -> None:
    # keys 3..4 are padding; query 4 is padding too
    s = 5
    probs = np.zeros((1, 1, s, s))
    probs[0, 0, :, :3] = 1.0 / 3
    probs[0, 0, 4] = 0.2  # garbage on a padding query row
    key_valid = np.array([True, True, True, False, False])
    query_valid = np.array([True, True, True, True, False])
    stats = attention_stats(probs, np.arange(s), np.arange(s), key_valid, query_valid)
    assert stats["n_rows"] == 4
    assert stats["entropy"][0][0] == pytest.approx(math.log(3))


def test_positions_not_indices_define_distance() -> None:
    # a single query at position 100 (decoding with a cache) looking at keys 0 and 90
    probs = np.array([0.25, 0.75]).reshape(1, 1, 1, 2)
    stats = attention_stats(probs, np.array([100]), np.array([0, 90]), np.array([True, True]))
    assert stats["mean_distance"][0][0] == pytest.approx(0.25 * 100 + 0.75 * 10)


def test_result_is_json_serialisable() -> None:
    t = 4
    stats = attention_stats(
        np.broadcast_to(_causal_uniform(t), (1, 2, t, t)).astype(np.float32),
        np.arange(t),
        np.arange(t),
        np.ones(t, bool),
    )
    assert json.loads(json.dumps(stats)) == stats


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        attention_stats(np.ones((2, 2)), np.arange(2), np.arange(2), np.ones(2, bool))
    with pytest.raises(ValueError):
        attention_stats(np.ones((1, 1, 2, 2)), np.arange(2), np.arange(2), np.zeros(2, bool))


def test_pooling_weights_each_example_by_its_rows() -> None:
    a = {"entropy": [[1.0, 0.0]], "mean_distance": [[2.0, 0.0]], "bos_mass": [[1.0, 1.0]], "n_rows": 1}
    b = {"entropy": [[5.0, 4.0]], "mean_distance": [[6.0, 4.0]], "bos_mass": [[0.0, 1.0]], "n_rows": 3}
    assert pool_stats([a, b]) == {
        "entropy": [[4.0, 3.0]],  # (1*1 + 3*5) / 4, (0 + 3*4) / 4
        "mean_distance": [[5.0, 3.0]],
        "bos_mass": [[0.25, 1.0]],
        "n_rows": 4,
    }


def test_pooling_equals_stats_over_all_rows_at_once() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(6), size=(2, 3, 6))  # [layers, heads, T, S]
    pos, valid = np.arange(6), np.ones(6, bool)
    whole = attention_stats(probs, pos, pos, valid)
    halves = [attention_stats(probs[:, :, rows], pos[rows], pos, valid) for rows in (slice(0, 2), slice(2, 6))]
    pooled = pool_stats(halves)
    for key in ("entropy", "mean_distance", "bos_mass"):
        np.testing.assert_allclose(pooled[key], whole[key])
    assert pooled["n_rows"] == whole["n_rows"] == 6
