"""The one attention function of the project: additive bias, causal and padding masks, GQA.

Masks come from positions rather than slot indices: a key is visible to a query when its position
is non-negative (not padding, not an empty cache slot) and not after the query's position. The
same rule then serves training, left-padded batches and decoding with a KV cache.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Finite, so fully masked rows (padding queries) give a uniform distribution instead of NaN.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)


def visibility_mask(q_positions: jax.Array, k_positions: jax.Array) -> jax.Array:
    """``[B, 1, T, S]`` bool: key j visible to query i (causal by position, padding excluded)."""
    k = k_positions[:, None, None, :]
    return (k >= 0) & (k <= q_positions[:, None, :, None])


def attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    q_positions: jax.Array,
    k_positions: jax.Array,
    bias: jax.Array | None = None,
    return_probs: bool = False,
    implementation: str = "xla",
) -> tuple[jax.Array, jax.Array | None]:
    """Scaled dot-product attention.

    Args:
      q: ``[B, T, H, d]``; k, v: ``[B, S, KV, d]`` with KV dividing H (query head h reads kv head
        h // (H / KV), the Hugging Face ``repeat_kv`` order).
      q_positions ``[B, T]``, k_positions ``[B, S]``: negative marks padding or an empty slot.
      bias: additive logits ``[B or 1, H, T, S]``, float32.
      return_probs: also return the probabilities ``[B, H, T, S]`` (float32), for analysis.
      implementation: "xla" (this function's own einsums) or "cudnn" (jax.nn.dot_product_attention's
        fused kernel on GPU; no probabilities).

    Returns:
      The output ``[B, T, H, d]`` and the probabilities or None.
    """
    batch, q_len, heads, head_dim = q.shape
    kv_heads = k.shape[2]
    mask = visibility_mask(q_positions, k_positions)
    if implementation == "cudnn":
        if return_probs:
            raise ValueError("attention_impl='cudnn' cannot return attention probabilities; use 'xla'")
        out = jax.nn.dot_product_attention(
            q, k, v, bias=None if bias is None else bias.astype(q.dtype), mask=mask, implementation="cudnn"
        )
        return out, None
    if implementation != "xla":
        raise ValueError(f"unknown model.attention_impl={implementation!r}; use 'xla' or 'cudnn'")
    groups = heads // kv_heads
    qg = q.reshape(batch, q_len, kv_heads, groups, head_dim)
    logits = jnp.einsum("btkgd,bskd->bkgts", qg, k, preferred_element_type=jnp.float32)
    logits = logits.reshape(batch, heads, q_len, k.shape[1]) * (head_dim**-0.5)
    if bias is not None:
        logits = logits + bias
    logits = jnp.where(mask, logits, MASK_VALUE)
    probs = jax.nn.softmax(logits, axis=-1)
    pg = probs.astype(v.dtype).reshape(batch, kv_heads, groups, q_len, k.shape[1])
    out = jnp.einsum("bkgts,bskd->btkgd", pg, v).reshape(batch, q_len, heads, head_dim)
    return out, (probs if return_probs else None)
