"""A relative attention bias on digit places: the relative reading of position coupling (Cho et al.
2024) and of Abacus's places (McLeish et al. 2024).

Every digit's place within its number (``digit_index``: 1 at the number's first digit, 0 for
non-digits) is the position here, so digits of equal significance in both operands and the answer
share one. The bias is a learned logit per layer and head for the key's place minus the query's,
clipped to ``-max_distance..max_distance``, and one more for keys that are not digits. A query that
is not a digit reads from place 0, so the ``=`` before an answer sees the first digits of the
operands one place ahead, as every answer digit sees the digits of its next place.

Why clipped and relative: a training sum of 1-10 digit operands has at most 11 digits, so two digits
11 or more places apart never share a training sequence. With absolute places (Abacus) the logit
between their rows is never trained, and the failed long sums of Abacus put attention weight there.
Here every such pair gets the value training learned for pairs ``max_distance`` or more places apart,
which every long training sum has. Zero at initialisation, so attention starts as NoPE's. Places do
not say where a token is in the sequence, so attention otherwise relies on a fixed first token (BOS),
like NoPE.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


class PlaceBias(PositionalEncoding):
    """Parameter ``table [layers, 2 * max_distance + 2, heads]``: the buckets of place differences
    ``-max_distance..max_distance``, then the bucket of non-digit keys."""

    inputs = ("digit_index",)
    requires_bos = True

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, max_distance: int = 4):
        del rngs  # zero at initialisation
        if max_distance < 1:
            raise ValueError(f"model.pe.max_distance must be >= 1, got {max_distance}")
        self.max_distance = max_distance
        shape = (dims.num_layers, 2 * max_distance + 2, dims.num_heads)
        self.table = nnx.Param(jnp.zeros(shape, jnp.float32), out_sharding=("layers", None, "heads"))

    def buckets(self, q_places: jax.Array, k_places: jax.Array) -> jax.Array:
        """``[B, T, S]`` int32: each query/key pair's row of the table."""
        c = self.max_distance
        difference = jnp.clip(k_places[:, None, :] - q_places[:, :, None], -c, c) + c
        return jnp.where(k_places[:, None, :] > 0, difference, 2 * c + 1)

    def bias(self, q_positions, k_positions, layer, *, digit_index):
        del q_positions, k_positions
        rows = self.table[...][layer]  # [buckets, H]
        return jnp.moveaxis(rows[self.buckets(*digit_index)], -1, 1)  # [B, H, T, S]

    def coverage(self, trained, evaluated):
        """Every bucket is a clipped place difference, and training with numbers of ``max_distance``
        + 1 digits or more meets them all: nothing is new at any length."""
        return {"learned": True, "unit": "place difference", "untrained": [],
                "summary": f"place differences clipped to ±{self.max_distance}: no bucket is new at any length"}
