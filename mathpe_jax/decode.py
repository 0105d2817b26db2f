"""Greedy decoding: batched, left-padded prompts, a KV cache, one jitted loop.

The prompt is run once to fill the cache; then a ``lax.while_loop`` feeds one token per step
until every row has produced EOS or the budget is spent. No Python runs per token.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mathpe_jax.data.batching import padded_length
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.model.transformer import Decoder


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``[B, P]`` padded on the left and positions ``[B, P]`` (-1 on padding, 0.. after)."""
    if any(len(p) == 0 for p in prompts):
        raise ValueError("an empty prompt cannot be decoded; every prompt needs at least one token (e.g. BOS)")
    length = length or max(len(p) for p in prompts)
    tokens = np.full((len(prompts), length), pad_id, np.int32)
    positions = np.full((len(prompts), length), -1, np.int32)
    for row, prompt in enumerate(prompts):
        n = len(prompt)
        tokens[row, length - n :] = prompt
        positions[row, length - n :] = np.arange(n)
    return tokens, positions


@functools.partial(jax.jit, static_argnames=("graphdef", "max_new_tokens", "eos_id", "pad_id"))
def _generate(graphdef, state, tokens, positions, *, max_new_tokens: int, eos_id: int, pad_id: int):
    model = nnx.merge(graphdef, state)
    batch, prompt_len = tokens.shape
    cache = KVCache.empty(model.config, batch, prompt_len + max_new_tokens)
    out = model(tokens, positions, cache=cache)
    first = jnp.argmax(out.logits[:, -1], axis=-1).astype(jnp.int32)
    generated = jnp.full((batch, max_new_tokens), pad_id, jnp.int32).at[:, 0].set(first)
    next_position = jnp.max(positions, axis=1) + 1

    def cond(carry):
        i, _, _, done, _ = carry
        return (i < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        i, cache, generated, done, position = carry
        token = generated[:, i - 1]
        out = model(token[:, None], position[:, None], cache=cache)
        nxt = jnp.argmax(out.logits[:, -1], axis=-1).astype(jnp.int32)
        generated = generated.at[:, i].set(jnp.where(done, pad_id, nxt))
        done = done | (nxt == eos_id)
        return i + 1, out.cache, generated, done, position + 1

    carry = (jnp.int32(1), out.cache, generated, first == eos_id, next_position)
    _, _, generated, _, _ = jax.lax.while_loop(cond, body, carry)
    return generated


def greedy_generate(
    model: Decoder,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    batch_size: int = 64,
    prompt_len: int = 0,
) -> list[list[int]]:
    """The greedy continuation of each prompt, cut after its first EOS (EOS included).

    Prompts are decoded in batches of ``batch_size``; the last batch is filled with copies, and
    prompt length and budget are rounded up to a multiple of 8, so a few compiled shapes serve
    all batches. Rows stop at EOS, so the larger budget costs nothing on rows that finish.
    ``prompt_len`` pads prompts to at least that many tokens, so that calls on different slices of
    one prompt set (e.g. batch by batch, to report progress) share one compiled shape.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    graphdef, state = nnx.split(model)
    prompt_len = padded_length(max(prompt_len, *(len(p) for p in prompts)))
    budget = padded_length(max_new_tokens)
    results: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        real = len(chunk)
        chunk += [chunk[-1]] * (min(batch_size, len(prompts)) - real)
        tokens, positions = left_pad(chunk, pad_id, prompt_len)
        out = np.asarray(
            _generate(graphdef, state, tokens, positions, max_new_tokens=budget, eos_id=eos_id, pad_id=pad_id)
        )
        for row in out[:real]:
            ids = row[:max_new_tokens].tolist()
            results.append(ids[: ids.index(eos_id) + 1] if eos_id in ids else ids)
    return results
