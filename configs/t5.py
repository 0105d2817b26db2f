"""The base run with the t5 positional encoding."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "t5"
    c.model.pe = ConfigDict({"name": "t5", "num_buckets": 32, "max_distance": 128})
    return c
