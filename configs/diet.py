"""The base run with DIET; ``--config.model.pe.variant=rel`` selects DIET-REL.

``share_across_layers`` is left unset, so each variant takes the paper's best setting: DIET-ABS
shares one table across layers, DIET-REL keeps one per layer.
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "diet"
    c.model.pe = ConfigDict(
        {"name": "diet", "variant": "abs", "rank": 16, "max_len": 0, "max_distance": 64, "share_across_layers": None}
    )
    return c
