"""The base run with the rope positional encoding."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "rope"
    c.model.pe = ConfigDict({"name": "rope", "base": 10000.0, "fraction": 1.0})
    return c
