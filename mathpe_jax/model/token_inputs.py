"""Per-token inputs a PE reads besides positions, computed by the decoder from the token ids.

A PE lists the names it reads in ``PositionalEncoding.inputs``; ``compute`` builds each from the
tokens of one call and hands them to the PE by name. Every input here is a running quantity over
the sequence; the KV cache keeps every cached token's values (``KVCache.inputs``, which a PE's bias
reads for the keys), and a chunk of new tokens continues from the last cached one: one token
at a time gives the same values as the whole sequence at once.

* ``digit_index``: each digit token's place within its number, counted from 1 at the number's
  first digit (with reversed numbers, the least significant one), 0 for every other token
  (McLeish et al., 2024, the index of Abacus embeddings). Which ids are digits is the model's
  ``digit_ids`` (set from the tokenizer when the model is built).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from mathpe_jax.model.config import ModelConfig


def digit_index(tokens: jax.Array, previous: jax.Array, config: ModelConfig) -> jax.Array:
    """``[B, T]`` int32: the place of each digit in its run of consecutive digit tokens, counting
    on from ``previous [B]`` (the value at the token before this chunk) where a run crosses in."""
    if not config.digit_ids:
        raise ValueError(
            f"PE {config.pe_name!r} reads digit_index, but the model has no digit_ids "
            "(the tokenizer's digit tokens, set when a run builds its model)"
        )
    is_digit = jnp.zeros((config.vocab_size,), bool).at[jnp.asarray(config.digit_ids)].set(True)[tokens]
    steps = jnp.arange(tokens.shape[1], dtype=jnp.int32)
    last_break = jax.lax.cummax(jnp.where(is_digit, -1, steps), axis=1)  # [B, T]: the latest non-digit so far
    carried = jnp.where(last_break < 0, previous[:, None].astype(jnp.int32), 0)
    return jnp.where(is_digit, steps - last_break + carried, 0)


#: name -> f(tokens [B, T], previous value [B], model config) -> values [B, T] int32.
INPUTS: dict[str, Callable[[jax.Array, jax.Array, ModelConfig], jax.Array]] = {"digit_index": digit_index}


def check_inputs(names: tuple[str, ...], pe_name: str) -> None:
    """Raises with the unknown name when a PE asks for an input nobody computes."""
    unknown = [n for n in names if n not in INPUTS]
    if unknown:
        raise ValueError(f"PE {pe_name!r} reads per-token input {unknown[0]!r}; known inputs: {sorted(INPUTS)}")


def compute(
    names: tuple[str, ...], tokens: jax.Array, config: ModelConfig, previous: Mapping[str, jax.Array] | None = None
) -> dict[str, jax.Array]:
    """Each named input of ``tokens [B, T]``; ``previous`` holds each one's value at the token
    before the chunk (a cache's carry), none for a chunk that starts the sequence."""
    batch = tokens.shape[0]
    start = {name: jnp.zeros((batch,), jnp.int32) for name in names}
    start.update(previous or {})
    return {name: INPUTS[name](tokens, start[name], config) for name in names}
