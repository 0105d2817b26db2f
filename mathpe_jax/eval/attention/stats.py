"""Summary statistics of attention patterns.

Positional encodings shape where heads look: how spread out attention is
(entropy), how far back it reaches (mean distance) and how much it parks on
the first token (attention sink). These are computed in NumPy from
attention probabilities exported by the model, so they work on any
framework's output and in tests without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["attention_stats", "pool_stats"]

_STATS = ("entropy", "mean_distance", "bos_mass")


def attention_stats(
    probs: np.ndarray,
    query_positions: np.ndarray,
    key_positions: np.ndarray,
    key_valid: np.ndarray,
    query_valid: np.ndarray | None = None,
) -> dict[str, list[list[float]] | int]:
    """Per-(layer, head) entropy, mean attention distance and BOS mass.

    Args:
      probs: attention probabilities ``[layers, heads, T, S]``; each valid row
        sums to 1 over valid keys.
      query_positions: ``[T]`` position of each query.
      key_positions: ``[S]`` position of each key.
      key_valid: ``[S]`` or ``[T, S]`` bool, False for padding keys (and, as
        ``[T, S]``, for keys hidden by a causal mask). Probabilities on invalid
        keys are ignored.
      query_valid: optional ``[T]`` bool, False for padding queries.

    Returns a JSON-serialisable dict with ``[layers][heads]`` lists, each
    averaged over valid query rows (rows with no valid key are excluded):

      - ``entropy``: ``-sum_j p_j log p_j`` in nats (``log n`` for uniform
        attention over ``n`` keys, 0 for one-hot);
      - ``mean_distance``: ``sum_j p_j (i - j)`` with ``i``, ``j`` the query and
        key positions (positive = looking back);
      - ``bos_mass``: probability on key index 0, the BOS token;

    and ``n_rows``, the number of query rows averaged.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 4:
        raise ValueError(f"probs must be [layers, heads, T, S], got shape {probs.shape}")
    _, _, t, s = probs.shape
    valid = np.broadcast_to(np.asarray(key_valid, dtype=bool), (t, s))
    rows = valid.any(axis=-1)
    if query_valid is not None:
        rows = rows & np.asarray(query_valid, dtype=bool)
    n_rows = int(rows.sum())
    if n_rows == 0:
        raise ValueError("no query row has a valid key")

    p = np.where(valid, probs, 0.0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    entropy = -plogp.sum(axis=-1)
    distance = (
        np.asarray(query_positions, dtype=np.float64)[:, None]
        - np.asarray(key_positions, dtype=np.float64)[None, :]
    )
    mean_distance = (p * distance).sum(axis=-1)
    bos = p[..., 0]

    def row_mean(per_row: np.ndarray) -> list[list[float]]:
        return (per_row[..., rows].sum(axis=-1) / n_rows).tolist()

    return {
        "entropy": row_mean(entropy),
        "mean_distance": row_mean(mean_distance),
        "bos_mass": row_mean(bos),
        "n_rows": n_rows,
    }


def pool_stats(per_example: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-(layer, head) statistics of several examples averaged over all their query rows (each
    example weighted by its ``n_rows``), so the result is what ``attention_stats`` would give on
    the rows of all examples at once."""
    rows = np.asarray([s["n_rows"] for s in per_example], dtype=np.float64)
    pooled: dict[str, Any] = {
        key: (np.tensordot(rows, np.asarray([s[key] for s in per_example]), axes=1) / rows.sum()).tolist()
        for key in _STATS
    }
    pooled["n_rows"] = int(rows.sum())
    return pooled
