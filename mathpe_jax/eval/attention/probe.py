"""The attention section of an evaluation: the model's attention on a few evaluated examples.

Each example is the prompt followed by the model's own completion, run once through the model with
``return_attention=True`` (jitted, one example at a time so that ``[layers, heads, T, T]`` stays
small for large models). ``stats.attention_stats`` gives entropy, mean attention distance and the
mass on the first key per layer and head, pooled over all query rows of all examples; two heatmaps
(first and last layer, head 0) of the longest example are drawn (``heatmaps``) under
``WORKDIR/attention/``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mathpe_jax.data.batching import padded_length
from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.decode import left_pad
from mathpe_jax.eval.attention.heatmaps import save_heatmaps, token_labels
from mathpe_jax.eval.attention.stats import attention_stats, pool_stats
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.run.layout import ATTENTION

__all__ = ["analyse_attention", "attention_probs", "spread"]

def spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indices evenly spread over ``range(n)``, first and last included."""
    if n == 0 or k == 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n)).round()})


@functools.partial(jax.jit, static_argnames="graphdef")
def _probs(graphdef, state, tokens, positions):
    model = nnx.merge(graphdef, state)
    return jnp.stack(model(tokens, positions, return_attention=True).attention)  # [L, B, H, T, S]


def attention_probs(model: Decoder, sequences: Sequence[Sequence[int]], pad_id: int) -> list[np.ndarray]:
    """Attention probabilities ``[layers, heads, n, n]`` of each sequence (``n`` its length).

    Sequences are left-padded to one length so the forward pass compiles once.
    """
    graphdef, state = nnx.split(model)
    length = padded_length(max(len(s) for s in sequences))
    out = []
    for sequence in sequences:
        tokens, positions = left_pad([sequence], pad_id, length)
        probs = np.asarray(_probs(graphdef, state, tokens, positions))[:, 0]
        n = len(sequence)
        out.append(probs[:, :, -n:, -n:])
    return out


def analyse_attention(
    model: Decoder,
    tokenizer: Tokenizer,
    sequences: Sequence[Sequence[int]],
    example_ids: Sequence[str],
    workdir: Path,
    *,
    first_key_is_bos: bool,
    write: bool = True,
) -> dict[str, Any]:
    """Pooled attention statistics of ``sequences`` and heatmap paths relative to ``workdir``.

    ``bos_mass`` is the probability on the first key, BOS when ``first_key_is_bos``. With
    ``write=False`` (non-chief hosts) no heatmap is written and none is listed.
    """
    if model.config.attention_impl != "xla":
        return {"skipped": f"model.attention_impl={model.config.attention_impl!r} returns no attention probabilities"}
    probs = attention_probs(model, sequences, tokenizer.pad_id)
    stats = []
    for p in probs:
        n = p.shape[-1]
        stats.append(attention_stats(p, np.arange(n), np.arange(n), np.tril(np.ones((n, n), bool))))
    longest = int(np.argmax([len(s) for s in sequences]))
    layers_heads = [(layer, 0) for layer in sorted({0, model.config.num_layers - 1})]
    written = []
    if write:
        labels = token_labels(tokenizer, sequences[longest])
        written = save_heatmaps(probs[longest], labels, workdir / ATTENTION, layers_heads)
    return {
        "examples": list(example_ids),
        "first_key_is_bos": first_key_is_bos,
        **pool_stats(stats),
        "heatmap_example": example_ids[longest],
        "heatmaps": [str(path.relative_to(workdir)) for path in written],
    }
