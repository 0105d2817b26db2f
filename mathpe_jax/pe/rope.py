"""Rotary position embedding (Su et al., 2021) in the Hugging Face "rotate half" convention.

Frequency scaling for context extension is optional, selected by ``scaling``:

* ``"linear"``: position interpolation (Chen et al., 2023) divides every frequency by ``factor``.
* ``"llama3"``: divides only the low frequencies, keeps the high ones and blends in between, as
  Llama 3.1+ checkpoints were trained.
* ``"yarn"``: YaRN (Peng et al., 2023) blends per frequency between interpolated (divided by
  ``factor``) and extrapolated (kept) along a linear ramp between the dims that turn ``beta_fast``
  and ``beta_slow`` times within ``original_max_len`` positions, and multiplies cos and sin by an
  attention factor (so attention logits grow by its square), as transformers' ``yarn`` type does.
* ``"ntk"``: static NTK-aware scaling (bloc97's "NTK-aware scaled RoPE", 2023; Code Llama extended
  its context the same way, by a larger base): ``base * factor ** (d / (d - 2))`` with ``d`` the
  rotary dims, which divides the lowest frequency by ``factor`` and keeps the highest. transformers
  has no static type for it, so a converted checkpoint never selects it.
* ``"dynamic"``: dynamic NTK (emozilla), transformers' ``dynamic`` type: the NTK base change with a
  factor that grows with the sequence, applied only past ``original_max_len``.

Every scaling computes frequencies, angles and cos/sin in float32, like the unscaled rotation.
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


SCALINGS = ("none", "linear", "llama3", "yarn", "ntk", "dynamic")


def unscaled_inv_freq(rotary_dim: int, base: float | jax.Array) -> jax.Array:
    """``base ** (-2i / rotary_dim)`` for ``i < rotary_dim // 2``, in float32 (``base`` may be traced)."""
    return 1.0 / (base ** (jnp.arange(0, rotary_dim, 2, dtype=jnp.float32) / rotary_dim))


def ntk_base(base: float | jax.Array, rotary_dim: int, factor: float | jax.Array) -> float | jax.Array:
    """The NTK-aware base: the lowest frequency is divided by ``factor``, the highest kept."""
    return base * factor ** (rotary_dim / (rotary_dim - 2))


def dynamic_ntk_base(
    base: float, rotary_dim: int, factor: float, original_max_len: int, seq_len: jax.Array | int
) -> jax.Array:
    """transformers' dynamic NTK base for a call spanning ``seq_len`` positions (float32, traced).

    The effective factor ``factor * seq_len / original_max_len - (factor - 1)`` is 1 at
    ``seq_len = original_max_len`` and ``factor`` at ``factor * original_max_len``; shorter
    sequences keep the original base exactly (``seq_len`` is raised to ``original_max_len`` first).
    """
    seq_len = jnp.maximum(seq_len, original_max_len).astype(jnp.float32)
    return ntk_base(base, rotary_dim, factor * seq_len / original_max_len - (factor - 1))


def yarn_correction_range(
    rotary_dim: int, base: float, original_max_len: int, beta_fast: float, beta_slow: float, truncate: bool
) -> tuple[float, float]:
    """Frequency indices ``(low, high)`` completing ``beta_fast`` and ``beta_slow`` turns in
    ``original_max_len`` positions: below ``low`` frequencies are kept, above ``high`` interpolated.

    ``truncate`` widens the range to whole indices (floor, ceil), as the YaRN reference code does;
    transformers lets a config turn that off (``truncate: false``, e.g. gpt-oss).
    """

    def index_turning(turns: float) -> float:
        return rotary_dim * math.log(original_max_len / (turns * 2 * math.pi)) / (2 * math.log(base))

    low, high = index_turning(beta_fast), index_turning(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    return max(low, 0), min(high, rotary_dim - 1)


def yarn_inv_freq(
    inv_freq: jax.Array,
    base: float,
    *,
    factor: float,
    original_max_len: int,
    beta_fast: float,
    beta_slow: float,
    truncate: bool,
) -> jax.Array:
    """YaRN's "NTK-by-parts" blend of ``inv_freq / factor`` (interpolated) and ``inv_freq``."""
    rotary_dim = 2 * inv_freq.shape[0]
    low, high = yarn_correction_range(rotary_dim, base, original_max_len, beta_fast, beta_slow, truncate)
    if low == high:
        high += 0.001  # transformers' guard against a zero-width ramp
    ramp = jnp.clip((jnp.arange(rotary_dim // 2, dtype=jnp.float32) - low) / (high - low), 0.0, 1.0)
    return inv_freq / factor * ramp + inv_freq * (1 - ramp)


def yarn_attention_factor(
    factor: float, attention_factor: float = 0.0, mscale: float = 0.0, mscale_all_dim: float = 0.0
) -> float:
    """YaRN's cos/sin multiplier: ``attention_factor`` if given (> 0), else ``0.1 ln(factor) + 1``
    (the paper's ``sqrt(1/t)``), or with both ``mscale`` and ``mscale_all_dim`` given (DeepSeek
    configs) the ratio of that formula with ``ln(factor)`` scaled by each. 1 for ``factor <= 1``."""
    if attention_factor:
        return attention_factor

    def mscaled(coefficient: float) -> float:
        return 1.0 if factor <= 1 else 0.1 * coefficient * math.log(factor) + 1.0

    if mscale and mscale_all_dim:
        return mscaled(mscale) / mscaled(mscale_all_dim)
    return mscaled(1.0)


def llama3_inv_freq(
    inv_freq: jax.Array, *, factor: float, low_freq_factor: float, high_freq_factor: float, original_max_len: int
) -> jax.Array:
    """A frequency whose wavelength exceeds ``original_max_len / low_freq_factor`` is divided by
    ``factor``, one whose wavelength is below ``original_max_len / high_freq_factor`` is kept, and
    those between are interpolated linearly in ``original_max_len / wavelength``."""
    wavelen = 2 * math.pi / inv_freq
    smooth = (original_max_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    scaled = jnp.where(wavelen > original_max_len / low_freq_factor, inv_freq / factor, blended)
    return jnp.where(wavelen < original_max_len / high_freq_factor, inv_freq, scaled)


def rope_inv_freq(
    rotary_dim: int,
    base: float,
    *,
    scaling: str = "none",
    factor: float = 1.0,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
    original_max_len: int = 8192,
    beta_fast: float = 32.0,
    beta_slow: float = 1.0,
    truncate: bool = True,
    seq_len: jax.Array | int | None = None,
) -> jax.Array:
    """The ``rotary_dim // 2`` angular frequencies in float32, after optional scaling.

    ``seq_len`` (the call's largest position + 1) matters only to ``"dynamic"``; left out, dynamic
    gives the original frequencies, as transformers does before any long sequence was seen.
    """
    inv_freq = unscaled_inv_freq(rotary_dim, base)
    if scaling == "linear":
        return inv_freq / factor
    if scaling == "llama3":
        return llama3_inv_freq(
            inv_freq,
            factor=factor,
            low_freq_factor=low_freq_factor,
            high_freq_factor=high_freq_factor,
            original_max_len=original_max_len,
        )
    if scaling == "yarn":
        return yarn_inv_freq(
            inv_freq,
            base,
            factor=factor,
            original_max_len=original_max_len,
            beta_fast=beta_fast,
            beta_slow=beta_slow,
            truncate=truncate,
        )
    if scaling == "ntk":
        return unscaled_inv_freq(rotary_dim, ntk_base(base, rotary_dim, factor))
    if scaling == "dynamic" and seq_len is not None:
        return unscaled_inv_freq(rotary_dim, dynamic_ntk_base(base, rotary_dim, factor, original_max_len, seq_len))
    return inv_freq


def rope_cos_sin(
    positions: jax.Array,
    rotary_dim: int,
    base: float,
    inv_freq: jax.Array | None = None,
    scale: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """cos and sin ``[B, T, 1, rotary_dim]`` in float32, each frequency repeated in both halves.

    Float32 even in bf16 runs: bf16 cannot even represent integer positions above 256 exactly.
    ``inv_freq`` overrides the unscaled frequencies of ``base`` (see ``rope_inv_freq``); ``scale``
    multiplies both tables (YaRN's attention factor), as transformers does.

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
        return jnp.matmul(values * scale, expand, precision=jax.lax.Precision.HIGHEST)[:, :, None, :]

    return table(jnp.cos(angles)), table(jnp.sin(angles))


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotates the first ``cos.shape[-1]`` dims of ``x [B, T, H, d]``; the rest pass through."""
    rotary_dim = cos.shape[-1]
    x_rot = x[..., :rotary_dim].astype(jnp.float32)
    rotated = x_rot * cos + rotate_half(x_rot) * sin
    return jnp.concatenate([rotated.astype(x.dtype), x[..., rotary_dim:]], axis=-1)


def _check_scaling_options(
    scaling: str,
    rotary_dim: int,
    *,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_len: int,
    beta_fast: float,
    beta_slow: float,
    attention_factor: float,
    mscale: float,
    mscale_all_dim: float,
    truncate: bool,
) -> None:
    """One-line ``ValueError`` naming the first option outside its domain."""
    if scaling not in SCALINGS:
        raise ValueError(f"model.pe.scaling must be one of {SCALINGS}, got {scaling!r}")
    if factor <= 0:
        raise ValueError(f"model.pe.factor must be > 0, got {factor}")
    if original_max_len < 1:
        raise ValueError(f"model.pe.original_max_len must be >= 1, got {original_max_len}")
    if scaling == "llama3" and not 0 < low_freq_factor < high_freq_factor:
        raise ValueError(
            f"model.pe needs 0 < low_freq_factor < high_freq_factor for llama3 scaling, "
            f"got {low_freq_factor} and {high_freq_factor}"
        )
    if not 0 < beta_slow <= beta_fast:
        raise ValueError(
            f"model.pe needs 0 < beta_slow <= beta_fast for yarn scaling, got {beta_slow} and {beta_fast}"
        )
    for name, value in (("attention_factor", attention_factor), ("mscale", mscale), ("mscale_all_dim", mscale_all_dim)):
        if value < 0:
            raise ValueError(f"model.pe.{name} must be >= 0 (0 = derive from factor), got {value}")
    if not isinstance(truncate, bool):
        # TRY004 wants a TypeError, but config errors are ValueErrors: the command line reports those
        raise ValueError(f"model.pe.truncate must be true or false, got {truncate!r}")  # noqa: TRY004
    if scaling in ("ntk", "dynamic") and rotary_dim <= 2:
        raise ValueError(f"model.pe.scaling={scaling!r} needs more than 2 rotary dims, got {rotary_dim}")


class RoPE(PositionalEncoding):
    """No parameters. ``fraction`` < 1 rotates only the leading dims (GPT-NeoX partial rotary).

    ``scaling`` and its options select the frequency scaling of ``rope_inv_freq``; the defaults
    leave frequencies unscaled. ``original_max_len`` is the context the checkpoint was trained on.
    YaRN also scales cos/sin by ``attention_factor`` (0 derives it from ``factor``, ``mscale`` and
    ``mscale_all_dim``, see ``yarn_attention_factor``).

    ``"dynamic"`` takes ``seq_len`` as the largest position in the call + 1, over the whole batch
    as transformers does, so a row's rotation depends on its batch mates once any exceeds
    ``original_max_len``. With a KV cache each step's keys are rotated with that step's frequencies
    and stored rotated, so cached keys keep the rotation they were written with while new queries
    use the grown base, as in transformers' generation. transformers additionally keeps its largest
    base across calls until a call fits the original context; each call here starts afresh.
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
        beta_fast: float = 32.0,
        beta_slow: float = 1.0,
        attention_factor: float = 0.0,
        mscale: float = 0.0,
        mscale_all_dim: float = 0.0,
        truncate: bool = True,
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
        freq_options = {
            "scaling": scaling,
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_len": original_max_len,
            "beta_fast": beta_fast,
            "beta_slow": beta_slow,
            "truncate": truncate,
        }
        _check_scaling_options(
            rotary_dim=rotary_dim,
            attention_factor=attention_factor,
            mscale=mscale,
            mscale_all_dim=mscale_all_dim,
            **freq_options,
        )
        self.rotary_dim = rotary_dim
        self.base = base
        self.freq_options = tuple(freq_options.items())  # a tuple: static module attributes must be hashable
        self.attention_factor = (
            yarn_attention_factor(factor, attention_factor, mscale, mscale_all_dim) if scaling == "yarn" else 1.0
        )

    def rotate(self, q, k, positions, layer):
        del layer
        seq_len = jnp.max(positions) + 1  # used by "dynamic" only; dead code for XLA otherwise
        inv_freq = rope_inv_freq(self.rotary_dim, self.base, seq_len=seq_len, **dict(self.freq_options))
        cos, sin = rope_cos_sin(positions, self.rotary_dim, self.base, inv_freq, self.attention_factor)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin)
