"""Summary statistics and heatmaps of attention patterns.

Positional encodings shape where heads look: how spread out attention is
(entropy), how far back it reaches (mean distance) and how much it parks on
the first token (attention sink). These are computed in NumPy from
attention probabilities exported by the model, so they work on any
framework's output and in tests without a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["attention_stats", "save_heatmaps"]

# Above this many keys, per-token tick labels are unreadable and are omitted.
_MAX_LABELLED_TOKENS = 64


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


def save_heatmaps(
    probs: np.ndarray,
    tokens: Sequence[str],
    out_dir: str | Path,
    layers_heads: Iterable[tuple[int, int]],
) -> list[Path]:
    """Write one PNG heatmap per ``(layer, head)``; return the paths written.

    ``probs`` is ``[layers, heads, T, S]`` and ``tokens`` labels the ``S``
    keys; queries are the last ``T`` of them (``T == S`` for a full
    sequence). Files are named ``attn_L{layer:02d}_H{head:02d}.png``. Uses the
    Agg canvas directly, so no display and no global pyplot state are needed.
    """
    probs = np.asarray(probs, dtype=np.float32)
    _, _, t, s = probs.shape
    if len(tokens) != s:
        raise ValueError(f"{len(tokens)} tokens for {s} keys")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for layer, head in layers_heads:
        # The figure grows with the tokens it can label; a longer sequence is drawn at the largest
        # labelled size rather than as a poster-sized image (GSM8K prompts run to hundreds of tokens).
        width, height = min(s, _MAX_LABELLED_TOKENS), min(t, _MAX_LABELLED_TOKENS)
        fig = Figure(figsize=(max(4.0, width * 0.18 + 2), max(3.5, height * 0.18 + 1.5)))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        image = ax.imshow(
            probs[layer, head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
        )
        fig.colorbar(image, ax=ax)
        ax.set_title(f"layer {layer}, head {head}")
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        if s <= _MAX_LABELLED_TOKENS:
            ax.set_xticks(range(s), list(tokens), rotation=90, fontsize=6)
            ax.set_yticks(range(t), list(tokens[s - t :]), fontsize=6)
        path = out / f"attn_L{layer:02d}_H{head:02d}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        written.append(path)
    return written
