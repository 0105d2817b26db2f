"""The base run with Abacus embeddings and FIRE in attention (McLeish et al. 2024, "Abacus + FIRE").

Each part keeps its own options: ``max_offset`` and ``offset_per`` are Abacus's (``configs/abacus.py``),
``hidden``, ``init_c``, ``init_threshold`` and ``share_across_layers`` FIRE's (``configs/fire.py``).
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "abacus_fire"
    c.model.pe = ConfigDict({"name": "abacus_fire", "max_offset": 100, "offset_per": "batch", "hidden": 32,
                             "init_c": 0.1, "init_threshold": 512.0, "share_across_layers": False})
    return c
