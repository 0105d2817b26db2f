"""Fixed sinusoidal encoding (Vaswani et al., 2017), added to the token embeddings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


def sinusoidal_table(positions: jax.Array, width: int, base: float = 10000.0) -> jax.Array:
    """``[..., width]`` float32: sin of every frequency in the first half, cos in the second.

    PE[p, k] = sin(p / base^(2k/D)) and PE[p, D/2 + k] = cos(p / base^(2k/D)); the halves are
    concatenated, not interleaved.
    """
    half = width // 2
    inv_freq = base ** (-2.0 * jnp.arange(half, dtype=jnp.float32) / width)
    angles = positions.astype(jnp.float32)[..., None] * inv_freq
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class Sinusoidal(PositionalEncoding):
    """No parameters; the same table for every layer, applied once at the embeddings."""

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, base: float = 10000.0):
        del rngs
        if dims.width % 2:
            raise ValueError(f"sinusoidal PE needs an even model width, got model.width={dims.width}")
        self.width = dims.width
        self.base = base

    def embed(self, x: jax.Array, positions: jax.Array) -> jax.Array:
        return x + sinusoidal_table(positions, self.width, self.base).astype(x.dtype)
