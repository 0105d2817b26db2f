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

``beyond="masked"`` instead hides digit keys more than ``max_distance`` places from the query: a
window on places, as the windowed attention biases of Duan et al. (2023, attention bias
scaffolding) are on positions. A long sum then shows each query as many digit keys as a training
sum does, so attention is not spread over the extra digits. Non-digit keys stay visible; BOS is one,
so no row is empty.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding

BEYOND = ("shared", "masked")
# The bias of a hidden pair: far below any trained logit, so softmax gives the key weight 0, yet
# finite (and in bfloat16's range) so a sum with other terms never makes NaN.
HIDDEN = -1e9


class PlaceBias(PositionalEncoding):
    """Parameter ``table [layers, 2 * max_distance + 2, heads]``: the buckets of place differences
    ``-max_distance..max_distance``, then the bucket of non-digit keys. ``beyond``: what digit keys
    farther than ``max_distance`` get, the edge bucket's value (``shared``) or no attention
    (``masked``)."""

    inputs = ("digit_index",)
    requires_bos = True

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, max_distance: int = 4, beyond: str = "shared"):
        del rngs  # zero at initialisation
        if max_distance < 1:
            raise ValueError(f"model.pe.max_distance must be >= 1, got {max_distance}")
        if beyond not in BEYOND:
            raise ValueError(f"model.pe.beyond must be one of {', '.join(BEYOND)}, got {beyond!r}")
        self.max_distance = max_distance
        self.beyond = beyond
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
        bias = jnp.moveaxis(rows[self.buckets(*digit_index)], -1, 1)  # [B, H, T, S]
        if self.beyond == "shared":
            return bias
        q_places, k_places = digit_index
        far = (k_places[:, None, :] > 0) & (jnp.abs(k_places[:, None, :] - q_places[:, :, None]) > self.max_distance)
        return jnp.where(far[:, None], HIDDEN, bias)

    def coverage(self, trained, evaluated):
        """Every bucket is a place difference within ``max_distance`` (or the clipped edge), and
        training with numbers of ``max_distance`` + 1 digits or more meets them all: nothing is new
        at any length."""
        reach = "clipped to" if self.beyond == "shared" else "masked beyond"
        return {"learned": True, "unit": "place difference", "untrained": [],
                "summary": f"place differences {reach} ±{self.max_distance}: no bucket is new at any length"}
