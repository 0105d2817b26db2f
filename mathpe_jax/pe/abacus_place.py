"""Abacus embeddings with a relative bias on the same places in attention (``abacus.py`` and
``place_bias.py``).

Abacus lines up digits of equal significance through their shared row; the place bias makes the
logit between two digits depend on how many places apart they are, clipped, so pairs farther apart
than any training sequence holds get a trained value instead of whatever their two untrained rows
give. Each part keeps its own options and parameters under its own name: ``embed`` is Abacus's,
``bias`` the place bias's.
"""

from __future__ import annotations

from flax import nnx

from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.base import PEDims, PositionalEncoding
from mathpe_jax.pe.place_bias import PlaceBias


class AbacusPlace(PositionalEncoding):
    """Parameters: ``abacus`` (Abacus's table) and ``place_bias`` (the per-layer bias table)."""

    inputs = Abacus.inputs
    requires_bos = True  # neither part tells attention where a token sits in the sequence

    def __init__(
        self, dims: PEDims, *, rngs: nnx.Rngs, max_offset: int = 100, offset_per: str = "batch", max_distance: int = 4
    ):
        self.abacus = Abacus(dims, rngs=rngs, max_offset=max_offset, offset_per=offset_per)
        self.place_bias = PlaceBias(dims, rngs=rngs, max_distance=max_distance)

    def embed(self, x, positions, *, digit_index):
        return self.abacus.embed(x, positions, digit_index=digit_index)

    def bias(self, q_positions, k_positions, layer, *, digit_index):
        return self.place_bias.bias(q_positions, k_positions, layer, digit_index=digit_index)

    def coverage(self, trained, evaluated):
        """Abacus's places with the place bias's account of its buckets."""
        places, buckets = self.abacus.coverage(trained, evaluated), self.place_bias.coverage(trained, evaluated)
        return {**places, "summary": f"{places['summary']}; {buckets['summary']}"}
