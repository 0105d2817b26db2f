"""The base run with Abacus embeddings (McLeish et al. 2024): each digit's place in its number.

``max_offset`` is the largest random shift of the places in training (the paper's k); the table
covers ``model.max_len + max_offset`` places, so no evaluated number runs past it. ``offset_per``
draws that shift once per ``"batch"`` (the paper's code) or once per sequence (``"example"``).
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "abacus"
    c.model.pe = ConfigDict({"name": "abacus", "max_offset": 100, "offset_per": "batch"})
    return c
