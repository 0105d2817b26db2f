"""The base run with FIRE (Li et al., 2023), at the paper's reference settings.

One FIRE per layer (``share_across_layers=True`` keeps one for all layers, the cheaper variant).
L starts at 512, as in the paper's code, where training sequences were 2048 long: beyond this
config's training sequences, so the normaliser stays psi(L) in training unless L learns to shrink.
Set ``--config.model.pe.init_threshold`` near the training length to interpolate from the start.
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "fire"
    c.model.pe = ConfigDict(
        {"name": "fire", "hidden": 32, "init_c": 0.1, "init_threshold": 512.0, "share_across_layers": False}
    )
    return c
