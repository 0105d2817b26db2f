"""Loading a run's trained parameters into a model, for evaluation and inference.

Reads only the ``params`` item of the newest good checkpoint: no optimizer is built, no optimizer
state is read, and nothing on disk is moved (a corrupt step is skipped, not quarantined).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from mathpe_jax.train.checkpoint import PARAMS, Checkpoints


def restore_params(workdir: str | Path, model: nnx.Module, trainable: Any = nnx.Param) -> int:
    """Loads the ``trainable`` variables (and random streams) of the newest good checkpoint of
    ``workdir`` into ``model``; returns its step, 0 when the run has no readable checkpoint."""
    if not (Path(workdir) / "checkpoints").is_dir():
        return 0
    _, params, rngs, _ = nnx.split(model, trainable, nnx.RngState, ...)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"params": params, "rngs": rngs})
    checkpoints = Checkpoints(workdir, read_only=True)
    try:
        restored = checkpoints.restore_latest({PARAMS: abstract}, quarantine=False)
    finally:
        checkpoints.close()
    if restored is None:
        return 0
    step, items = restored
    nnx.update(model, items[PARAMS]["params"], items[PARAMS]["rngs"])
    return step
