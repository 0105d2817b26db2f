"""The base run with the alibi positional encoding."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "alibi"
    c.model.pe = ConfigDict({"name": "alibi"})
    return c
