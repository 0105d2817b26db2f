"""The base run with learned absolute position embeddings (the APE baseline of Kazemnejad et al.,
2023); ``max_len=0`` sizes the table by ``model.max_len``."""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "learned"
    c.model.pe = ConfigDict({"name": "learned", "max_len": 0})
    return c
