"""Heatmaps of attention patterns, one PNG per (layer, head), with readable token labels.

Drawn with the Agg canvas directly, so no display and no global pyplot state are needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathpe_jax.data.tokenizer import Tokenizer

__all__ = ["save_heatmaps", "token_labels"]

# Above this many keys, per-token tick labels are unreadable and are omitted.
_MAX_LABELLED_TOKENS = 64


def token_labels(tokenizer: Tokenizer, ids: Sequence[int], *, for_matplotlib: bool = True) -> list[str]:
    """A readable label per token for heatmap axes; for matplotlib ``$`` is escaped so that it is
    shown as text, not read as the start of mathematics."""
    special = {tokenizer.pad_id: "<pad>", tokenizer.eos_id: "<eos>"}
    if tokenizer.bos_id is not None:
        special[tokenizer.bos_id] = "<bos>"
    labels = []
    for token in ids:
        text = special.get(token) or tokenizer.decode([token]) or f"<{token}>"
        text = text.replace("\n", "\\n")
        labels.append(text.replace("$", r"\$") if for_matplotlib else text)
    return labels


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
