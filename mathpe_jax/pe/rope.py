"""Rotary position embedding (Su et al., 2021) in the Hugging Face "rotate half" convention.

Frequency scaling for context extension is optional: ``scaling="linear"`` (position interpolation,
Chen et al., 2023) divides every frequency by ``factor``; ``scaling="llama3"`` divides only the low
frequencies, keeps the high ones and blends in between, as Llama 3.1+ checkpoints were trained.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


def rotate_half(x: jax.Array) -> jax.Array:
    """[x1, x2] -> [-x2, x1] over the last axis."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


SCALINGS = ("none", "linear", "llama3")


def rope_inv_freq(
    rotary_dim: int,
    base: float,
    *,
    scaling: str = "none",
    factor: float = 1.0,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
    original_max_len: int = 8192,
) -> jax.Array:
    """The ``rotary_dim // 2`` angular frequencies in float32, after optional scaling.

    llama3: a frequency whose wavelength exceeds ``original_max_len / low_freq_factor`` is divided
    by ``factor``, one whose wavelength is below ``original_max_len / high_freq_factor`` is kept,
    and those between are interpolated linearly in ``original_max_len / wavelength``.
    """
    inv_freq = 1.0 / (base ** (jnp.arange(0, rotary_dim, 2, dtype=jnp.float32) / rotary_dim))
    if scaling == "linear":
        return inv_freq / factor
    if scaling == "llama3":
        wavelen = 2 * math.pi / inv_freq
        smooth = (original_max_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
        scaled = jnp.where(wavelen > original_max_len / low_freq_factor, inv_freq / factor, blended)
        return jnp.where(wavelen < original_max_len / high_freq_factor, inv_freq, scaled)
    return inv_freq


def rope_cos_sin(
    positions: jax.Array, rotary_dim: int, base: float, inv_freq: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """cos and sin ``[B, T, 1, rotary_dim]`` in float32, each frequency repeated in both halves.

    Float32 even in bf16 runs: bf16 cannot even represent integer positions above 256 exactly.
    ``inv_freq`` overrides the unscaled frequencies of ``base`` (see ``rope_inv_freq``).

    Each frequency serves two dims, so the tables are expanded from ``rotary_dim // 2`` columns by
    a 0/1 matrix product, which is exact (every output is one input times 1, plus zeros). It is a
    product rather than a concatenation on purpose: XLA never fuses a matmul's operands into its
    consumers, so cos and sin are computed once per token. Fused, they were recomputed for every
    head in every rotation and its backward pass, about 6% of a LoRA training step on CPU.
    """
    if inv_freq is None:
        inv_freq = rope_inv_freq(rotary_dim, base)
    angles = positions.astype(jnp.float32)[..., None] * inv_freq
    expand = jnp.tile(jnp.eye(rotary_dim // 2, dtype=jnp.float32), (1, 2))  # [rotary_dim // 2, rotary_dim]

    def table(values: jax.Array) -> jax.Array:
        return jnp.matmul(values, expand, precision=jax.lax.Precision.HIGHEST)[:, :, None, :]

    return table(jnp.cos(angles)), table(jnp.sin(angles))


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotates the first ``cos.shape[-1]`` dims of ``x [B, T, H, d]``; the rest pass through."""
    rotary_dim = cos.shape[-1]
    x_rot = x[..., :rotary_dim].astype(jnp.float32)
    rotated = x_rot * cos + rotate_half(x_rot) * sin
    return jnp.concatenate([rotated.astype(x.dtype), x[..., rotary_dim:]], axis=-1)


class RoPE(PositionalEncoding):
    """No parameters. ``fraction`` < 1 rotates only the leading dims (GPT-NeoX partial rotary).

    ``scaling``, ``factor``, ``low_freq_factor``, ``high_freq_factor`` and ``original_max_len``
    select the frequency scaling of ``rope_inv_freq``; the defaults leave frequencies unscaled.
    """

    def __init__(
        self,
        dims: PEDims,
        *,
        rngs: nnx.Rngs,
        base: float = 10000.0,
        fraction: float = 1.0,
        scaling: str = "none",
        factor: float = 1.0,
        low_freq_factor: float = 1.0,
        high_freq_factor: float = 4.0,
        original_max_len: int = 8192,
    ):
        del rngs
        rotary_dim = int(dims.head_dim * fraction)
        if not 0.0 < fraction <= 1.0 or rotary_dim < 2 or rotary_dim % 2:
            raise ValueError(
                f"model.pe.fraction={fraction} gives {rotary_dim} rotary dims of head_dim "
                f"{dims.head_dim}; it must be an even number >= 2"
            )
        if base <= 1.0:
            raise ValueError(f"model.pe.base must be > 1, got {base}")
        if scaling not in SCALINGS:
            raise ValueError(f"model.pe.scaling must be one of {SCALINGS}, got {scaling!r}")
        if factor <= 0:
            raise ValueError(f"model.pe.factor must be > 0, got {factor}")
        if scaling == "llama3" and not 0 < low_freq_factor < high_freq_factor:
            raise ValueError(
                f"model.pe needs 0 < low_freq_factor < high_freq_factor for llama3 scaling, "
                f"got {low_freq_factor} and {high_freq_factor}"
            )
        self.rotary_dim = rotary_dim
        self.base = base
        self.scaling = (  # a tuple, not a dict: static module attributes must be hashable
            ("scaling", scaling),
            ("factor", factor),
            ("low_freq_factor", low_freq_factor),
            ("high_freq_factor", high_freq_factor),
            ("original_max_len", original_max_len),
        )

    def rotate(self, q, k, positions, layer):
        del layer
        inv_freq = rope_inv_freq(self.rotary_dim, self.base, **dict(self.scaling))
        cos, sin = rope_cos_sin(positions, self.rotary_dim, self.base, inv_freq)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin)
