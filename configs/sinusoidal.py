"""The base run with the sinusoidal positional encoding."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "sinusoidal"
    c.model.pe = ConfigDict({"name": "sinusoidal", "base": 10000.0})
    return c
