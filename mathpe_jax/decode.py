"""Greedy decoding: batched, left-padded prompts, a KV cache, one jitted loop.

The prompt but its last token is run once to fill the cache; then a ``lax.while_loop`` feeds one
token per step, starting with that last prompt token, until every row has produced EOS or the
budget is spent. No Python runs per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mathpe_jax.data.batching import padded_length
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.sharding import activation_sharding, constrain, mesh_of


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


def greedy_tokens(logits: jax.Array) -> jax.Array:
    """The argmax ``[B]`` (int32) of ``logits [B, V]``: the first maximal index, or the first NaN.

    Two plain reductions (max, then the least index holding it) instead of ``jnp.argmax``, whose
    single reduction over (value, index) pairs XLA does not vectorise on CPU: ~3x slower over a
    32k vocabulary, which made the argmax a tenth of a small model's decoding step.
    """
    best = jnp.max(logits, axis=-1, keepdims=True)
    index = jnp.arange(logits.shape[-1], dtype=jnp.int32)
    hits = (logits == best) | jnp.isnan(logits)
    return jnp.min(jnp.where(hits, index, logits.shape[-1]), axis=-1)


def generate_loop(graphdef, state, tokens, positions, *, max_new_tokens: int, eos_id: int, pad_id: int) -> jax.Array:
    """Greedy tokens ``[B, max_new_tokens]`` after left-padded prompts: prefill, then one token per
    step in a ``while_loop``. Unjitted: ``greedy_generate`` runs it jitted, the memory planner
    compiles it ahead of time."""
    model = nnx.merge(graphdef, state)
    batch, prompt_len = tokens.shape
    cache = KVCache.empty(model.config, batch, prompt_len + max_new_tokens)
    # The prompt but its last token only fills the cache: nothing reads these logits, so XLA drops
    # their vocabulary projection, which is most of a prefill's cost when the vocabulary is large.
    # The last prompt token (a real token in every row: prompts are left-padded) starts the loop.
    cache = model(tokens[:, :-1], positions[:, :-1], cache=cache).cache
    generated = jnp.full((batch, max_new_tokens), pad_id, jnp.int32)

    def cond(carry):
        i, _, _, done, _, _ = carry
        return (i < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        i, cache, generated, done, token, position = carry
        out = model(token[:, None], position[:, None], cache=cache)
        nxt = greedy_tokens(out.logits[:, -1])
        generated = generated.at[:, i].set(jnp.where(done, pad_id, nxt))
        return i + 1, out.cache, generated, done | (nxt == eos_id), nxt, position + 1

    carry = (jnp.int32(0), cache, generated, jnp.zeros((batch,), bool), tokens[:, -1], positions[:, -1])
    # Replicated: every process reads every row (the rows are split over the mesh while decoding).
    return constrain(jax.lax.while_loop(cond, body, carry)[2], (None, None))


_generate = jax.jit(generate_loop, static_argnames=("graphdef", "max_new_tokens", "eos_id", "pad_id"))


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
    graphdef, state = nnx.split(model)
    return greedy_generate_split(
        graphdef, state, prompts, max_new_tokens=max_new_tokens, eos_id=eos_id, pad_id=pad_id,
        batch_size=batch_size, prompt_len=prompt_len,
    )


def greedy_generate_split(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    batch_size: int = 64,
    prompt_len: int = 0,
) -> list[list[int]]:
    """``greedy_generate`` of a model already split by ``nnx.split``: a caller that decodes many
    small batches of one model (a server) splits it once, which on a small model costs as much as
    decoding a short answer."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    prompt_len = padded_length(max(prompt_len, *(len(p) for p in prompts)))
    budget = padded_length(max_new_tokens)
    results: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        real = len(chunk)
        chunk += [chunk[-1]] * (min(batch_size, len(prompts)) - real)
        tokens, positions = left_pad(chunk, pad_id, prompt_len)
        with activation_sharding(mesh_of(state)):  # traced on the first call of each shape
            out = np.asarray(
                _generate(graphdef, state, tokens, positions, max_new_tokens=budget, eos_id=eos_id, pad_id=pad_id)
            )
        for row in out[:real]:
            ids = row[:max_new_tokens].tolist()
            results.append(ids[: ids.index(eos_id) + 1] if eos_id in ids else ids)
    return results
