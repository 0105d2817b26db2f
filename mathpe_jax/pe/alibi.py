"""ALiBi (Press et al., 2022): a fixed per-head linear penalty on the query-key distance."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, relative_distance


def alibi_slopes(num_heads: int) -> np.ndarray:
    """The paper's slopes; for a head count that is not a power of two, the slopes of the nearest
    lower power of two followed by every other slope of the next power of two."""

    def power_of_two_slopes(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    lower = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = power_of_two_slopes(lower)
    if lower < num_heads:
        slopes += power_of_two_slopes(2 * lower)[0::2][: num_heads - lower]
    return np.asarray(slopes, dtype=np.float32)


class ALiBi(PositionalEncoding):
    """No parameters: bias[h, i, j] = -m_h * (i - j), from the true positions of query and key."""

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs):
        del rngs
        self.num_heads = dims.num_heads

    def bias(self, q_positions, k_positions, layer):
        del layer
        slopes = jnp.asarray(alibi_slopes(self.num_heads))
        distance = relative_distance(q_positions, k_positions).astype(jnp.float32)
        return -slopes[None, :, None, None] * distance[:, None, :, :]
