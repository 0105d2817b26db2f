"""Abacus embeddings (McLeish et al., 2024): a learned embedding of each digit's place in its number.

Every digit token gets the row of its place within its number (1 for the first digit written, which
with reversed numbers is the least significant one; ``digit_index``), every other token row 0, and
the row is added to the token embedding. Digits of equal significance in both operands and in the
answer therefore share one vector, which is what lets attention line them up at any length.

Training adds a random offset ``k`` in ``0..max_offset`` to every digit's index (the paper's k = 100
for 20-digit training), so the rows for places beyond the training lengths are trained too;
evaluation and decoding use ``k = 0``. ``offset_per="batch"`` draws one ``k`` per batch, as the
paper's code does; ``"example"`` draws one per sequence, so every batch trains a spread of places
(on 1-10 digit addition the loss fell below 0.7 nats in 500 steps instead of staying near 1.8 for
600). The offsets come from the PE's own random stream, which the training state carries, so a
resumed run draws the offsets it would have drawn. Attention itself gets no positional signal (as
the paper's Abacus + NoPE models).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, span

# How the training offset is drawn: one per batch (the paper's code) or one per sequence.
OFFSET_PER = ("batch", "example")


class Abacus(PositionalEncoding):
    """Parameter ``table [max_len + max_offset + 1, width]``: row 0 for non-digits, then one row per
    place, long enough for a number as long as the model's context plus the largest offset."""

    inputs = ("digit_index",)
    requires_bos = True  # attention carries no position: like NoPE, it relies on a fixed first token

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, max_offset: int = 100, offset_per: str = "batch"):
        if max_offset < 0:
            raise ValueError(f"model.pe.max_offset must be >= 0, got {max_offset}")
        if offset_per not in OFFSET_PER:
            raise ValueError(f"model.pe.offset_per must be one of {', '.join(OFFSET_PER)}, got {offset_per!r}")
        self.max_offset = max_offset
        self.offset_per = offset_per
        self.rows = dims.max_len + max_offset + 1
        init = nnx.initializers.normal(1.0)  # the paper's torch.nn.Embedding: N(0, 1), as the token table here
        self.table = nnx.Param(init(rngs.params(), (self.rows, dims.width), jnp.float32), out_sharding=(None, "embed"))
        self.offsets = nnx.Rngs(offset=jax.random.fold_in(rngs.params.key[...], 1))
        self.deterministic = True  # model.train() turns the training offset on, model.eval() off

    def embed(self, x: jax.Array, positions: jax.Array, *, digit_index: jax.Array) -> jax.Array:
        del positions
        index = digit_index
        if not self.deterministic and self.max_offset:
            shape = () if self.offset_per == "batch" else index.shape[:-1] + (1,)
            k = jax.random.randint(self.offsets.offset(), shape, 0, self.max_offset + 1, dtype=jnp.int32)
            index = jnp.where(index > 0, index + k, 0)
        rows = jnp.clip(index, 0, self.rows - 1)
        return x + self.table[...][rows].astype(x.dtype)

    def coverage(self, trained, evaluated):
        """Places (rows) evaluation may reach that training cannot have: a number in a sequence of
        ``n`` tokens has at most ``n`` digits, so training reaches places up to ``trained +
        max_offset`` at most and evaluation up to ``evaluated`` (bounds, as the sequence lengths
        are all this hook is told)."""
        seen = trained + self.max_offset
        untrained = list(range(seen + 1, min(evaluated, self.rows - 1) + 1))
        return {"learned": True, "unit": "place", "untrained": untrained,
                "summary": f"places {span(untrained)} never trained (training reaches place {seen} "
                           f"with offsets up to {self.max_offset})" if untrained
                           else f"every place up to {evaluated} was trained (offsets up to {self.max_offset})"}
