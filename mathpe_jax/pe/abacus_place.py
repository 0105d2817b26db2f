"""Abacus embeddings with a relative bias on the same places in attention (``abacus.py`` and
``place_bias.py``).

Abacus lines up digits of equal significance through their shared row; the place bias makes the
logit between two digits depend on how many places apart they are, clipped, so pairs farther apart
than any training sequence holds get a trained value instead of whatever their two untrained rows
give (or, with ``beyond="masked"``, no attention at all). Each part keeps its own options and
parameters under its own name: ``embed`` is Abacus's, ``bias`` the place bias's.
"""

from __future__ import annotations

from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.composite import Composite
from mathpe_jax.pe.place_bias import PlaceBias


class AbacusPlace(Composite):
    """Parameters: ``abacus`` (Abacus's table) and ``place_bias`` (the per-layer bias table).
    Neither part tells attention where a token sits in the sequence, so BOS is prepended."""

    parts = (("abacus", Abacus), ("place_bias", PlaceBias))
