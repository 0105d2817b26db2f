"""The one attention function of the project: a positional bias per query block, causal and padding
masks, GQA, and a backward pass that keeps no score matrix.

Masks come from positions rather than slot indices: a key is visible to a query when its position
is non-negative (not padding, not an empty cache slot) and not after the query's position. The
same rule then serves training, left-padded batches and decoding with a KV cache.

The PE's bias enters as a function of positions (``bias_fn(q_positions, k_positions)``, and of the
per-token inputs the PE reads, such as each digit's place), called once per query block with that
block's positions and inputs, so no ``[B, H, T, S]`` tensor is ever built for
the whole sequence. Without a cache the keys are the queries' own slots, so a key in a later slot is
never visible either (nor, under a sliding window, one ``window`` or more slots back): queries go in
blocks of ``QUERY_BLOCK`` rows and each block reads only the keys from the window's start to its
last row, which removes about half of the score matrix for long sequences.

The backward pass is FlashAttention's: the forward keeps only q, k, v, the output and each row's
log-normaliser; the backward recomputes each block's scores (and its bias, whose gradient reaches
the PE's parameters through ``jax.vjp``) and uses ``sum(dP * P) = sum(dO * O)``. What a layer
saves for the backward is then linear in the sequence length: no float32 probabilities, and no
per-block copies of keys and values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

# Finite, so fully masked rows (padding queries) give a uniform distribution instead of NaN.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)
# Query rows per block when keys are the queries' own slots. On a 2-core CPU, 128 measured faster
# than 64 (more, smaller matmuls) and than 256 (no skipped work at length 256).
QUERY_BLOCK = 128
IMPLEMENTATIONS = ("xla", "cudnn", "auto")



class Bias(NamedTuple):
    """An additive logit bias as a function of positions and per-token inputs: ``fn(args,
    q_positions [B, t], k_positions [B, s], q_inputs, k_inputs) -> [B or 1, H, t, s]`` float32 (or
    None: no bias). ``args`` is a pytree of arrays (a PE's parameters, a layer index) that the
    backward pass differentiates where they are floating point; ``q_inputs`` (``[B, T]`` arrays by
    name) and ``k_inputs`` (``[B, S]``) are cut to each block's queries and keys, like the
    positions; ``fn`` must close over no traced value."""

    fn: Callable
    args: object = ()
    q_inputs: Mapping[str, jax.Array] = {}
    k_inputs: Mapping[str, jax.Array] = {}

    def whole(self, q_positions: jax.Array, k_positions: jax.Array) -> jax.Array | None:
        """The bias over all queries and keys at once."""
        return self.fn(self.args, q_positions, k_positions, self.q_inputs, self.k_inputs)


def visibility_mask(q_positions: jax.Array, k_positions: jax.Array, window: int = 0) -> jax.Array:
    """``[B, 1, T, S]`` bool: key j visible to query i (causal by position, padding excluded, and
    with a sliding ``window`` > 0, fewer than ``window`` positions back)."""
    k, q = k_positions[:, None, None, :], q_positions[:, None, :, None]
    visible = (k >= 0) & (k <= q)
    return visible & (k > q - window) if window else visible


class _Plan(NamedTuple):
    """The static shape of one attention call: query blocks ``(start, end, first_key, end_key)``,
    query heads per kv head, the window, whether keys are the queries' own slots, and the bias
    function of ``Bias`` (its arguments travel as ``consts``)."""

    blocks: tuple[tuple[int, int, int, int], ...]
    groups: int
    window: int
    causal_slots: bool
    bias_fn: Callable | None


def _query_blocks(q_len: int, k_len: int, causal_slots: bool, window: int) -> tuple[tuple[int, int, int, int], ...]:
    """``(start, end, first_key, end_key)`` of each query block: one block over all keys unless the
    keys are the queries' own slots; then each block reads keys from ``window - 1`` slots before the
    block (all, without a window) to its last row."""
    if not causal_slots:
        return ((0, q_len, 0, k_len),)
    return tuple(
        (start, min(start + QUERY_BLOCK, q_len), max(0, start - window + 1) if window else 0, min(start + QUERY_BLOCK, q_len))
        for start in range(0, q_len, QUERY_BLOCK)
    )


def _rows(x: jax.Array, groups: int) -> jax.Array:
    """``[., KV or 1, G or 1, t, last]`` -> ``[., KV or 1, G x t, last]``: the query heads of one kv
    head stacked as rows, so each (batch, kv head) is one plain matmul (a separate group axis
    measured about 1.6x slower on CPU)."""
    x = jnp.broadcast_to(x, (*x.shape[:2], groups, *x.shape[3:]))
    return x.reshape(*x.shape[:2], groups * x.shape[3], x.shape[-1])


def _block_scores(plan: _Plan, block, q, k, consts, q_positions, k_positions):
    """The masked float32 logits ``[B, KV, G x t, s]`` of one query block, and its visibility."""
    start, end, first, last = block
    qp, kp = q_positions[:, start:end], k_positions[:, first:last]
    kv_heads = k.shape[1]
    logits = jnp.einsum("bkmd,bksd->bkms", _rows(q[:, :, :, start:end], plan.groups), k[:, :, first:last],
                        preferred_element_type=jnp.float32)
    if plan.bias_fn is not None:
        args, q_inputs, k_inputs = consts
        q_inputs = {name: a[:, start:end] for name, a in q_inputs.items()}
        k_inputs = {name: a[:, first:last] for name, a in k_inputs.items()}
        bias = plan.bias_fn(args, qp, kp, q_inputs, k_inputs).astype(jnp.float32)  # [B or 1, H, t, s]
        logits = logits + _rows(bias.reshape(bias.shape[0], kv_heads, plan.groups, *bias.shape[2:]), plan.groups)
    visible = visibility_mask(qp, kp, plan.window)
    if plan.causal_slots:
        behind = jnp.arange(start, end)[:, None] - jnp.arange(first, last)  # query slot minus key slot
        visible = visible & (behind >= 0) & (behind < (plan.window or q.shape[3]))
    visible = _rows(visible[:, :, None], plan.groups)
    return jnp.where(visible, logits, MASK_VALUE), visible


def _unrows(x: jax.Array, groups: int) -> jax.Array:
    """``[B, KV, G x t, d]`` -> ``[B, KV, G, t, d]``."""
    return x.reshape(x.shape[0], x.shape[1], groups, -1, x.shape[-1])


def _forward(plan: _Plan, q, k, v, consts, q_positions, k_positions, with_probs: bool = False):
    """Output ``[B, KV, G, T, d]``, log-normalisers ``[B, KV, G, T, 1]`` (float32) and, when asked
    (one block over all keys), the probabilities ``[B, KV, G x T, S]``."""
    outs, norms, probs = [], [], None
    for block in plan.blocks:
        logits, _ = _block_scores(plan, block, q, k, consts, q_positions, k_positions)
        norm = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
        p = jnp.exp(logits - norm)
        out = jnp.einsum("bkms,bksd->bkmd", p.astype(v.dtype), v[:, :, block[2]:block[3]])
        outs.append(_unrows(out, plan.groups))
        norms.append(_unrows(norm, plan.groups))
        probs = p if with_probs else None
    return jnp.concatenate(outs, axis=3), jnp.concatenate(norms, axis=3), probs


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _attend(plan: _Plan, q, k, v, consts, q_positions, k_positions):
    return _forward(plan, q, k, v, consts, q_positions, k_positions)[0]


def _attend_fwd(plan, q, k, v, consts, q_positions, k_positions):
    out, norm, _ = _forward(plan, q, k, v, consts, q_positions, k_positions)
    return out, (q, k, v, consts, q_positions, k_positions, out, norm)


def _attend_bwd(plan, residuals, d_out):
    q, k, v, consts, q_positions, k_positions, out, norm = residuals
    d_q = []
    d_k = jnp.zeros(k.shape, jnp.float32)
    d_v = jnp.zeros(v.shape, jnp.float32)
    d_consts = None
    for block in plan.blocks:
        start, end, first, last = block

        def scores(c, block=block):
            return _block_scores(plan, block, q, k, c, q_positions, k_positions)

        if plan.bias_fn is None:
            (logits, visible), scores_vjp = scores(consts), None
        else:
            logits, scores_vjp, visible = jax.vjp(scores, consts, has_aux=True)
        probs = jnp.exp(logits - _rows(norm[:, :, :, start:end], plan.groups))
        block_d_out = _rows(d_out[:, :, :, start:end], plan.groups)
        v_block = v[:, :, first:last]
        d_v = d_v.at[:, :, first:last].add(
            jnp.einsum("bkms,bkmd->bksd", probs.astype(v.dtype), block_d_out, preferred_element_type=jnp.float32))
        d_probs = jnp.einsum("bkmd,bksd->bkms", block_d_out, v_block, preferred_element_type=jnp.float32)
        # sum_s dP * P = dO . O per query row: a [.., t, d] reduction instead of a [.., t, s] one.
        delta = jnp.sum(block_d_out.astype(jnp.float32) * _rows(out[:, :, :, start:end], plan.groups).astype(jnp.float32),
                        axis=-1, keepdims=True)
        d_logits = jnp.where(visible, probs * (d_probs - delta), 0.0)
        d_q.append(_unrows(jnp.einsum("bkms,bksd->bkmd", d_logits.astype(q.dtype), k[:, :, first:last]), plan.groups))
        d_k = d_k.at[:, :, first:last].add(
            jnp.einsum("bkms,bkmd->bksd", d_logits.astype(k.dtype), _rows(q[:, :, :, start:end], plan.groups),
                       preferred_element_type=jnp.float32))
        if scores_vjp is not None:
            (block_d_consts,) = scores_vjp(d_logits)
            d_consts = block_d_consts if d_consts is None else jax.tree.map(_add_cotangents, d_consts, block_d_consts)
    d_q = jnp.concatenate(d_q, axis=3).reshape(q.shape)
    return d_q, d_k.astype(k.dtype), d_v.astype(v.dtype), d_consts, None, None


_attend.defvjp(_attend_fwd, _attend_bwd)


def _add_cotangents(a: jax.Array, b: jax.Array) -> jax.Array:
    """Sums two cotangents; those of integer inputs (float0) carry nothing to sum."""
    return a if a.dtype == jax.dtypes.float0 else a + b


def resolve_implementation(implementation: str, dtype, return_probs: bool = False) -> str:
    """``auto`` -> ``cudnn`` on a GPU for half-precision activations without probabilities (what
    the fused kernel accepts), ``xla`` otherwise; an unknown name raises, naming it."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown model.attention_impl={implementation!r}; use one of {IMPLEMENTATIONS}")
    if implementation != "auto":
        return implementation
    half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
    return "cudnn" if jax.default_backend() == "gpu" and half and not return_probs else "xla"


def attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    q_positions: jax.Array,
    k_positions: jax.Array,
    bias: Bias | None = None,
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
      bias: the additive logits as a function of query and key positions (``Bias``), computed per
        query block; its floating-point arguments (a PE's parameters) receive gradients.
      causal_slots: the keys are the queries' own slots (self-attention without a cache, S == T),
        so key slot j is hidden from query slot i when j > i, whatever the positions say.
      window: sliding attention window (Mistral): a query sees keys fewer than ``window``
        positions back (and, with ``causal_slots``, slots back); 0 sees all.
      return_probs: also return the probabilities ``[B, H, T, S]`` (float32), for analysis.
      implementation: "xla" (this module's einsums), "cudnn" (jax.nn.dot_product_attention's fused
        kernel on GPU; no probabilities; the bias is built whole) or "auto" (``resolve_implementation``).

    Returns:
      The output ``[B, T, H, d]`` and the probabilities or None.
    """
    batch, q_len, heads, head_dim = q.shape
    k_len, kv_heads = k.shape[1], k.shape[2]
    if causal_slots and k_len != q_len:
        raise ValueError(f"causal_slots needs as many keys as queries, got {k_len} keys for {q_len} queries")
    implementation = resolve_implementation(implementation, q.dtype, return_probs)
    if implementation == "cudnn":
        if return_probs:
            raise ValueError("attention_impl='cudnn' cannot return attention probabilities; use 'xla'")
        return _cudnn(q, k, v, q_positions, k_positions, bias, causal_slots, window), None
    if bias is not None and jax.eval_shape(bias.whole, q_positions, k_positions) is None:
        bias = None
    plan = _Plan(
        _query_blocks(q_len, k_len, causal_slots and not return_probs, window),
        heads // kv_heads,
        window,
        causal_slots,
        None if bias is None else bias.fn,
    )
    q = (q * jnp.asarray(head_dim**-0.5, q.dtype)).reshape(batch, q_len, kv_heads, plan.groups, head_dim)
    q = q.transpose(0, 2, 3, 1, 4)  # [B, KV, G, T, d]
    k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # [B, KV, S, d]
    args = (q, k, v, () if bias is None else (bias.args, bias.q_inputs, bias.k_inputs), q_positions, k_positions)
    probs = None
    if return_probs:
        out, _, probs = _forward(plan, *args, with_probs=True)
        probs = probs.reshape(batch, heads, q_len, k_len)
    else:
        out = _attend(plan, *args)
    return out.transpose(0, 3, 1, 2, 4).reshape(batch, q_len, heads, head_dim), probs


def _cudnn(q, k, v, q_positions, k_positions, bias: Bias | None, causal_slots, window):
    """The fused kernel, with the whole mask and (if any) the whole bias, in the activations' dtype."""
    mask = visibility_mask(q_positions, k_positions, window)
    if causal_slots:
        behind = jnp.arange(q.shape[1])[:, None] - jnp.arange(q.shape[1])
        mask = mask & (behind >= 0) & (behind < (window or q.shape[1]))
    dense = None if bias is None else bias.whole(q_positions, k_positions)
    return jax.nn.dot_product_attention(
        q, k, v, bias=None if dense is None else dense.astype(q.dtype), mask=mask, implementation="cudnn"
    )
