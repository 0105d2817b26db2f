"""Learned absolute position embeddings: a table ``[max_len, width]`` added to the token embeddings.

The absolute-encoding baseline of Kazemnejad et al. (2023, "The Impact of Positional Encoding on
Length Generalization in Transformers"), as in GPT-2. Rows start from normal(0.02), GPT-2's
initialisation: small against this project's token embeddings (std 1), so position starts as a
weak signal that training strengthens, and a row training never reached stays near zero.

Positions past the table are clipped to its last row (there is no rule for them; every longer
position shares it), and padding positions (-1) to row 0: the attention masks them anyway.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, span


class LearnedAbsolute(PositionalEncoding):
    """Parameter ``table [max_len, width]``; ``max_len=0`` takes the model's ``max_len``."""

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, max_len: int = 0):
        if max_len < 0:
            raise ValueError(f"model.pe.max_len must be >= 0 (0: model.max_len), got {max_len}")
        self.max_len = max_len or dims.max_len
        table = nnx.initializers.normal(0.02)(rngs.params(), (self.max_len, dims.width), jnp.float32)
        self.table = nnx.Param(table, out_sharding=(None, "embed"))

    def embed(self, x: jax.Array, positions: jax.Array) -> jax.Array:
        rows = jnp.clip(positions, 0, self.max_len - 1)
        return x + self.table[...][rows].astype(x.dtype)

    def coverage(self, trained, evaluated):
        """Rows past the training positions keep their initial values; positions past ``max_len``
        share the last row."""
        untrained = list(range(min(trained, self.max_len), min(evaluated, self.max_len)))
        return {"learned": True, "unit": "row", "untrained": untrained,
                "summary": f"rows {span(untrained)} never trained "
                           f"(positions past {self.max_len - 1} reuse row {self.max_len - 1})"}
