"""T5 relative position bias (Raffel et al., 2020): a learned scalar per (bucket, head).

One table serves every layer (T5 stores it in layer 0 and reuses it). Buckets are causal: the
first half are exact distances, the second half grow logarithmically up to ``max_distance``.
Buckets never reached in training keep their initial values, which matters for length
generalization.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, relative_distance, span


def causal_bucket(distance: jax.Array, num_buckets: int, max_distance: int) -> jax.Array:
    """Bucket id of each non-negative distance i - j (negative distances count as 0)."""
    n = jnp.maximum(distance, 0)
    max_exact = num_buckets // 2
    scaled = jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (scaled * (num_buckets - max_exact)).astype(jnp.int32)
    large = jnp.minimum(large, num_buckets - 1)
    return jnp.where(n < max_exact, n, large)


class T5RelativeBias(PositionalEncoding):
    """Parameter ``table [num_buckets, heads]``, shared by all layers."""

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, num_buckets: int = 32, max_distance: int = 128):
        if num_buckets < 2 or max_distance <= num_buckets // 2:
            raise ValueError(
                f"model.pe needs num_buckets >= 2 and max_distance > num_buckets/2, "
                f"got num_buckets={num_buckets}, max_distance={max_distance}"
            )
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        table = nnx.initializers.normal(0.02)(rngs.params(), (num_buckets, dims.num_heads), jnp.float32)
        self.table = nnx.Param(table, out_sharding=(None, "heads"))

    def coverage(self, trained, evaluated):
        """Buckets that evaluation's distances (0 to evaluated - 1) reach and training's do not."""
        def buckets(n: int) -> set[int]:
            return {int(b) for b in np.asarray(causal_bucket(jnp.arange(n), self.num_buckets, self.max_distance))}

        untrained = sorted(buckets(evaluated) - buckets(trained))
        return {"learned": True, "unit": "bucket", "untrained": untrained,
                "summary": f"buckets {span(untrained)} never trained (distances {trained}-{evaluated - 1} of evaluation)"
                if untrained else "every bucket evaluation reaches was trained"}

    def bias(self, q_positions, k_positions, layer):
        del layer
        buckets = causal_bucket(relative_distance(q_positions, k_positions), self.num_buckets, self.max_distance)
        values = self.table[...].astype(jnp.float32)[buckets]  # [B, T, S, H]
        return jnp.transpose(values, (0, 3, 1, 2))
