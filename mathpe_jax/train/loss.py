"""Next-token cross-entropy, fused with the output projection so the logits are never stored.

The logits are the largest tensor of a language-model step: tokens x vocabulary, 262 MB for 2,048
tokens of a 32k vocabulary in float32, plus as much again for their softmax. Here the projection
and the loss run together over chunks of the sequence, and the gradients with respect to the hidden
states (and the projection, when it trains) are formed right there in the forward pass, from the
chunk's softmax while it is at hand, as Liger Kernel's fused linear cross-entropy does. Because the
loss is a weighted sum of per-token terms, those gradients are exact: the backward pass only
scales them by the incoming cotangent. No chunk is computed twice, and the step holds one chunk of
logits at a time (``MAX_CHUNK_LOGITS``) instead of two full-size tensors, which on a CPU also
spares the page faults of mapping them afresh each step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from mathpe_jax.model.transformer import Decoder

# Logits per chunk: 16 Mi float32 values, 64 MiB.
MAX_CHUNK_LOGITS = 2**24


def masked_loss_sum(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sum of token cross-entropies where ``mask`` is 1, and the number of such tokens."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return jnp.sum(losses * mask), jnp.sum(mask)


def chunk_length(batch: int, length: int, vocab: int) -> int:
    """Sequence positions per chunk: a power of two with ``batch x chunk x vocab`` logits within
    ``MAX_CHUNK_LOGITS``, or the whole sequence when that fits."""
    budget = max(1, MAX_CHUNK_LOGITS // (batch * vocab))
    if budget >= length:
        return length
    return 1 << (budget.bit_length() - 1)


@jax.custom_vjp
def fused_cross_entropy_sum(hidden: jax.Array, kernel: jax.Array, targets: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum(weights * cross_entropy(hidden @ kernel, targets))`` without storing the logits.

    Args:
      hidden: ``[B, T, D]`` final hidden states (any float dtype; the product runs in that dtype
        with float32 accumulation).
      kernel: ``[D, V]`` output projection.
      targets: ``[B, T]`` integer next tokens.
      weights: ``[B, T]`` float per-token weights (the loss mask).
    """
    return _chunked(hidden, kernel, targets, weights, hidden_grad=False, kernel_grad=False)[0]


def _chunked(hidden, kernel, targets, weights, *, hidden_grad: bool, kernel_grad: bool):
    """The weighted loss sum and, as asked, its gradients for ``hidden`` and ``kernel``."""
    batch, length, width = hidden.shape
    chunk = chunk_length(batch, length, kernel.shape[1])
    padded = -(-length // chunk) * chunk  # padding gets weight 0
    pad = [(0, 0), (0, padded - length)]
    # [chunks, B, chunk, ...]: each chunk keeps the batch axis, so a batch-sharded step stays sharded.
    h_chunks, t_chunks, w_chunks = (
        jnp.pad(x, pad + [(0, 0)] * (x.ndim - 2)).reshape(batch, padded // chunk, chunk, *x.shape[2:]).swapaxes(0, 1)
        for x in (hidden, targets, weights.astype(jnp.float32))
    )
    matrix = kernel.astype(hidden.dtype)

    def one_chunk(d_kernel, xs):
        h, t, w = xs
        logits = jnp.einsum("bcd,dv->bcv", h, matrix, preferred_element_type=jnp.float32)
        log_normalizer = jax.nn.logsumexp(logits, axis=-1)
        target_logits = jnp.take_along_axis(logits, t[..., None], axis=-1)[..., 0]
        loss = jnp.sum(w * (log_normalizer - target_logits))
        if not (hidden_grad or kernel_grad):
            return d_kernel, (loss, None)
        one_hot = t[..., None] == jnp.arange(logits.shape[-1], dtype=t.dtype)
        d_logits = (w[..., None] * (jnp.exp(logits - log_normalizer[..., None]) - one_hot)).astype(hidden.dtype)
        d_h = jnp.einsum("bcv,dv->bcd", d_logits, matrix) if hidden_grad else None
        if kernel_grad:
            d_kernel = d_kernel + jnp.einsum("bcd,bcv->dv", h, d_logits, preferred_element_type=jnp.float32)
        return d_kernel, (loss, d_h)

    d_kernel = jnp.zeros(kernel.shape, jnp.float32) if kernel_grad else None
    d_kernel, (losses, d_hidden) = jax.lax.scan(one_chunk, d_kernel, (h_chunks, t_chunks, w_chunks))
    if d_hidden is not None:
        d_hidden = d_hidden.swapaxes(0, 1).reshape(batch, padded, width)[:, :length]
    return jnp.sum(losses), d_hidden, d_kernel


def _fused_fwd(hidden, kernel, targets, weights):
    loss, d_hidden, d_kernel = _chunked(
        hidden.value,
        kernel.value,
        targets.value,
        weights.value,
        hidden_grad=hidden.perturbed,
        kernel_grad=kernel.perturbed,
    )
    if d_kernel is not None:
        d_kernel = d_kernel.astype(kernel.value.dtype)
    return loss, (d_hidden, d_kernel)


def _fused_bwd(residuals, d_loss):
    if isinstance(d_loss, jax.custom_derivatives.SymbolicZero):
        return None, None, None, None
    scale = d_loss.astype(jnp.float32)
    d_hidden, d_kernel = ((scale * g).astype(g.dtype) if g is not None else None for g in residuals)
    return d_hidden, d_kernel, None, None


fused_cross_entropy_sum.defvjp(_fused_fwd, _fused_bwd, symbolic_zeros=True)


def lm_loss_sum(
    model: Decoder, inputs: jax.Array, positions: jax.Array, targets: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Masked next-token loss sum and token count of a ``Decoder`` on one batch; fused with the
    output projection when that is one matrix, through the logits otherwise (LoRA on lm_head)."""
    hidden = model.hidden_states(inputs, positions)[0]
    kernel = model.output_kernel()
    if kernel is None:
        return masked_loss_sum(model.logits(hidden), targets, mask)
    return fused_cross_entropy_sum(hidden, kernel, targets, mask), jnp.sum(mask)
