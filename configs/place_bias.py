"""The base run with a relative attention bias on digit places (``mathpe_jax/pe/place_bias.py``):
place differences clipped to ±``max_distance`` (``beyond="masked"``: digits farther apart are not
attended to), no other position signal (BOS first)."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "place_bias"
    c.model.pe = ConfigDict({"name": "place_bias", "max_distance": 4, "beyond": "shared"})
    return c
