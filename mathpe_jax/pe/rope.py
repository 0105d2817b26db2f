"""Rotary position embedding (Su et al., 2021) in the Hugging Face "rotate half" convention."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


def rotate_half(x: jax.Array) -> jax.Array:
    """[x1, x2] -> [-x2, x1] over the last axis."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def rope_cos_sin(positions: jax.Array, rotary_dim: int, base: float) -> tuple[jax.Array, jax.Array]:
    """cos and sin ``[B, T, 1, rotary_dim]`` in float32, each frequency repeated in both halves.

    Float32 even in bf16 runs: bf16 cannot even represent integer positions above 256 exactly.
    """
    inv_freq = 1.0 / (base ** (jnp.arange(0, rotary_dim, 2, dtype=jnp.float32) / rotary_dim))
    angles = positions.astype(jnp.float32)[..., None] * inv_freq
    emb = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
    return jnp.cos(emb), jnp.sin(emb)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotates the first ``cos.shape[-1]`` dims of ``x [B, T, H, d]``; the rest pass through."""
    rotary_dim = cos.shape[-1]
    x_rot = x[..., :rotary_dim].astype(jnp.float32)
    rotated = x_rot * cos + rotate_half(x_rot) * sin
    return jnp.concatenate([rotated.astype(x.dtype), x[..., rotary_dim:]], axis=-1)


class RoPE(PositionalEncoding):
    """No parameters. ``fraction`` < 1 rotates only the leading dims (GPT-NeoX partial rotary)."""

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, base: float = 10000.0, fraction: float = 1.0):
        del rngs
        rotary_dim = int(dims.head_dim * fraction)
        if not 0.0 < fraction <= 1.0 or rotary_dim < 2 or rotary_dim % 2:
            raise ValueError(
                f"model.pe.fraction={fraction} gives {rotary_dim} rotary dims of head_dim "
                f"{dims.head_dim}; it must be an even number >= 2"
            )
        if base <= 1.0:
            raise ValueError(f"model.pe.base must be > 1, got {base}")
        self.rotary_dim = rotary_dim
        self.base = base

    def rotate(self, q, k, positions, layer):
        del layer
        cos, sin = rope_cos_sin(positions, self.rotary_dim, self.base)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin)
