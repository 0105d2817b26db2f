"""The base run with Abacus embeddings and a relative bias on the same places in attention.

Each part keeps its own options: ``max_offset`` and ``offset_per`` are Abacus's (``configs/abacus.py``),
``max_distance`` and ``beyond`` the place bias's (``configs/place_bias.py``).
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "abacus_place"
    c.model.pe = ConfigDict({"name": "abacus_place", "max_offset": 100, "offset_per": "batch", "max_distance": 4, "beyond": "shared"})
    return c
