"""NoPE: no positional signal; the causal mask alone lets the model infer position.

The theory and practice of NoPE rely on a fixed first token, so it always asks for a BOS token.
"""

from __future__ import annotations

from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


class NoPE(PositionalEncoding):
    """Every hook is the identity."""

    requires_bos = True

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs):
        del dims, rngs
