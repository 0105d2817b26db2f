"""The one attention function of the project: additive bias, causal and padding masks, GQA.

Masks come from positions rather than slot indices: a key is visible to a query when its position
is non-negative (not padding, not an empty cache slot) and not after the query's position. The
same rule then serves training, left-padded batches and decoding with a KV cache.

Without a cache the keys are the queries' own slots, so a key in a later slot is never visible
either (nor, under a sliding window, one ``window`` or more slots back). The XLA path uses that to
skip work: queries go in blocks of ``QUERY_BLOCK`` rows and each block reads only the keys from the
window's start to its last row, which removes about half of the score matrix for long sequences.
The softmax has its own backward pass (the one of FlashAttention: it keeps the probabilities and
uses ``sum(dP * P) = sum(dO * O)``), which saves several passes over the score matrix against
differentiating the forward pass; on CPU those passes cost as much as the matmuls.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Finite, so fully masked rows (padding queries) give a uniform distribution instead of NaN.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)
# Query rows per block when keys are the queries' own slots. On a 2-core CPU, 128 measured faster
# than 64 (more, smaller matmuls) and than 256 (no skipped work at length 256).
QUERY_BLOCK = 128


def visibility_mask(q_positions: jax.Array, k_positions: jax.Array, window: int = 0) -> jax.Array:
    """``[B, 1, T, S]`` bool: key j visible to query i (causal by position, padding excluded, and
    with a sliding ``window`` > 0, fewer than ``window`` positions back)."""
    k, q = k_positions[:, None, None, :], q_positions[:, None, :, None]
    visible = (k >= 0) & (k <= q)
    return visible & (k > q - window) if window else visible


def _forward(q, k, v, bias, visible):
    """Softmax attention with the query heads of one kv head stacked as rows: q ``[B, KV, M, d]``
    (already scaled; M = G x T), k and v ``[B, KV, S, d]``, bias ``[B or 1, KV, M, S]`` or None,
    visible ``[B, 1, M, S]``. Returns the output ``[B, KV, M, d]`` and the float32 probabilities
    ``[B, KV, M, S]``. Stacking gives XLA one plain batched matmul per (batch, kv head); a separate
    group axis measured about 1.6x slower on CPU."""
    logits = jnp.einsum("bkmd,bksd->bkms", q, k, preferred_element_type=jnp.float32)
    if bias is not None:
        logits = logits + bias
    probs = jax.nn.softmax(jnp.where(visible, logits, MASK_VALUE), axis=-1)
    return jnp.einsum("bkms,bksd->bkmd", probs.astype(v.dtype), v), probs


@jax.custom_vjp
def _attend(q, k, v, bias, visible):
    return _forward(q, k, v, bias, visible)[0]


def _attend_fwd(q, k, v, bias, visible):
    out, probs = _forward(q, k, v, bias, visible)
    bias_shape = None if bias is None else bias.shape
    return out, (q, k, v, probs, out, visible, bias_shape)


def _attend_bwd(residuals, d_out):
    q, k, v, probs, out, visible, bias_shape = residuals
    d_v = jnp.einsum("bkms,bkmd->bksd", probs.astype(v.dtype), d_out)
    d_probs = jnp.einsum("bkmd,bksd->bkms", d_out, v, preferred_element_type=jnp.float32)
    # sum_s dP * P = dO . O per query row: a [.., T, d] reduction instead of a [.., T, S] one.
    delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=-1, keepdims=True)
    d_logits = jnp.where(visible, probs * (d_probs - delta), 0.0)
    d_q = jnp.einsum("bkms,bksd->bkmd", d_logits.astype(q.dtype), k)
    d_k = jnp.einsum("bkms,bkmd->bksd", d_logits.astype(k.dtype), q)
    d_bias = None
    if bias_shape is not None:
        d_bias = d_logits if bias_shape[0] == d_logits.shape[0] else jnp.sum(d_logits, axis=0, keepdims=True)
    return d_q, d_k, d_v, d_bias, None


_attend.defvjp(_attend_fwd, _attend_bwd)


def _query_blocks(length: int, causal_slots: bool, window: int) -> list[tuple[int, int, int]]:
    """``(start, end, first_key)`` of each query block: one block over all keys unless the keys are
    the queries' own slots; then each block reads keys ``first_key:end``, from ``window - 1`` slots
    before the block (all, without a window) to its last row."""
    if not causal_slots:
        return [(0, length, 0)]
    return [
        (start, min(start + QUERY_BLOCK, length), max(0, start - window + 1) if window else 0)
        for start in range(0, length, QUERY_BLOCK)
    ]


def attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    q_positions: jax.Array,
    k_positions: jax.Array,
    bias: jax.Array | None = None,
    causal_slots: bool = False,
    window: int = 0,
    return_probs: bool = False,
    implementation: str = "xla",
) -> tuple[jax.Array, jax.Array | None]:
    """Scaled dot-product attention.

    Args:
      q: ``[B, T, H, d]``; k, v: ``[B, S, KV, d]`` with KV dividing H (query head h reads kv head
        h // (H / KV), the Hugging Face ``repeat_kv`` order).
      q_positions ``[B, T]``, k_positions ``[B, S]``: negative marks padding or an empty slot.
      bias: additive logits ``[B or 1, H, T, S]``, float32.
      causal_slots: the keys are the queries' own slots (self-attention without a cache, S == T),
        so key slot j is hidden from query slot i when j > i, whatever the positions say.
      window: sliding attention window (Mistral): a query sees keys fewer than ``window``
        positions back (and, with ``causal_slots``, slots back); 0 sees all.
      return_probs: also return the probabilities ``[B, H, T, S]`` (float32), for analysis.
      implementation: "xla" (this module's einsums) or "cudnn" (jax.nn.dot_product_attention's
        fused kernel on GPU; no probabilities).

    Returns:
      The output ``[B, T, H, d]`` and the probabilities or None.
    """
    batch, q_len, heads, head_dim = q.shape
    k_len, kv_heads = k.shape[1], k.shape[2]
    if causal_slots and k_len != q_len:
        raise ValueError(f"causal_slots needs as many keys as queries, got {k_len} keys for {q_len} queries")
    mask = visibility_mask(q_positions, k_positions, window)
    if causal_slots:
        behind = jnp.arange(q_len)[:, None] - jnp.arange(q_len)  # query slot minus key slot
        mask = mask & (behind >= 0) & (behind < (window or q_len))
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
    q = (q * jnp.asarray(head_dim**-0.5, q.dtype)).reshape(batch, q_len, kv_heads, groups, head_dim)
    q = q.transpose(0, 2, 3, 1, 4)  # [B, KV, G, T, d]
    k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # [B, KV, S, d]
    mask = mask[:, :, None]  # [B, 1, 1, T, S]
    if bias is not None:
        bias = bias.reshape(bias.shape[0], kv_heads, groups, q_len, k_len)

    def rows(x: jax.Array, start: int, end: int, keys: slice = slice(None)) -> jax.Array:
        """``[., ., G or 1, T, last]`` -> the block's ``[., ., G x (end - start), last]``, the last
        axis cut to ``keys`` (masks and biases)."""
        x = x[..., start:end, keys]
        x = jnp.broadcast_to(x, (*x.shape[:2], groups, *x.shape[3:]))
        return x.reshape(*x.shape[:2], groups * (end - start), x.shape[-1])

    outs, probs = [], None
    for start, end, first_key in _query_blocks(q_len, causal_slots and not return_probs, window):
        keys = slice(first_key, end if causal_slots else k_len)
        block = (
            rows(q, start, end),
            k[:, :, keys],
            v[:, :, keys],
            None if bias is None else rows(bias, start, end, keys),
            rows(mask, start, end, keys),
        )
        if return_probs:
            out, probs = _forward(*block)
            probs = probs.reshape(batch, heads, q_len, k_len)
        else:
            out = _attend(*block)
        outs.append(out.reshape(batch, kv_heads, groups, end - start, head_dim))
    out = jnp.concatenate(outs, axis=3)
    return out.transpose(0, 3, 1, 2, 4).reshape(batch, q_len, heads, head_dim), probs
