"""The key/value cache used by incremental decoding.

Slots are written left to right; every slot remembers the position of the token it holds, and an
empty slot holds position -1, so the attention masks it out without any other bookkeeping. Every
slot also keeps its token's per-token inputs (``token_inputs``): a PE's bias may read them for the
keys, and the last one is where a new chunk's running values continue.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mathpe_jax.model.config import ModelConfig
from mathpe_jax.parallel.sharding import constrain
from mathpe_jax.pe import pe_class

#: Logical axes of one layer's cached keys or values: split over the batch like the activations.
CACHE_AXES = ("batch", "length", "kv_heads", None)


@struct.dataclass
class KVCache:
    keys: tuple[jax.Array, ...]  # one [B, S, KV, d] array per layer
    values: tuple[jax.Array, ...]
    positions: jax.Array  # [B, S] int32; -1 for an empty slot or padding
    index: jax.Array  # int32 scalar: the next slot to write
    # Each per-token input the PE reads (``token_inputs``): [B, S] int32 by name, 0 in empty slots.
    inputs: dict[str, jax.Array] = struct.field(default_factory=dict)

    @classmethod
    def empty(cls, config: ModelConfig, batch: int, max_len: int) -> "KVCache":
        shape = (batch, max_len, config.num_kv_heads, config.head_dim)
        zeros = tuple(constrain(jnp.zeros(shape, config.compute_dtype), CACHE_AXES) for _ in range(config.num_layers))
        return cls(
            keys=zeros,
            values=zeros,
            positions=jnp.full((batch, max_len), -1, jnp.int32),
            index=jnp.zeros((), jnp.int32),
            inputs={name: jnp.zeros((batch, max_len), jnp.int32) for name in pe_class(config.pe_name).inputs},
        )

    @property
    def max_len(self) -> int:
        return self.positions.shape[1]

    def last_inputs(self) -> dict[str, jax.Array]:
        """Each per-token input at the last written slot, ``[B]`` (0 before the first write): where
        the next chunk's running values continue."""
        last = jnp.maximum(self.index - 1, 0)
        return {
            name: jnp.where(self.index > 0, jax.lax.dynamic_index_in_dim(values, last, axis=1, keepdims=False), 0)
            for name, values in self.inputs.items()
        }

    def with_tokens(self, positions: jax.Array, inputs: dict[str, jax.Array]) -> "KVCache":
        """Records the positions and per-token inputs (``[B, T]`` each) of the ``T`` tokens about to
        be written at ``index``."""
        start = (0, self.index)
        return self.replace(
            positions=jax.lax.dynamic_update_slice(self.positions, positions.astype(jnp.int32), start),
            inputs={name: jax.lax.dynamic_update_slice(a, inputs[name].astype(jnp.int32), start)
                    for name, a in self.inputs.items()},
        )

    def write(self, keys: jax.Array, values: jax.Array, layer_kv: tuple[jax.Array, jax.Array]):
        """Stores new ``keys``/``values [B, T, KV, d]`` of one layer; returns that layer's full arrays."""
        cached_k, cached_v = layer_kv
        start = (0, self.index, 0, 0)
        return (
            jax.lax.dynamic_update_slice(cached_k, keys.astype(cached_k.dtype), start),
            jax.lax.dynamic_update_slice(cached_v, values.astype(cached_v.dtype), start),
        )
