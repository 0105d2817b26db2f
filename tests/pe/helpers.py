"""Builders shared by the PE tests."""

from __future__ import annotations

import numpy as np
from flax import nnx

from mathpe_jax.pe import PEDims, build_pe


def make_pe(name: str, heads: int = 4, head_dim: int = 8, width: int = 32, layers: int = 2, max_len: int = 64, **options):
    dims = PEDims(width=width, num_heads=heads, head_dim=head_dim, num_layers=layers, max_len=max_len)
    return build_pe(name, dims, options, nnx.Rngs(0))


def positions(batch: int, length: int, offset: int = 0) -> np.ndarray:
    return np.broadcast_to(np.arange(offset, offset + length, dtype=np.int32), (batch, length)).copy()
