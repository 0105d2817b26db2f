"""The base run with the nope positional encoding."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "nope"
    c.model.pe = ConfigDict({"name": "nope"})
    return c
