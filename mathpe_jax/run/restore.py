"""Loading a run's trained parameters into a model, for evaluation and inference.

Reads only the ``params`` item of one checkpoint step: no optimizer is built and no optimizer state
is read. By default that step is the one the run's training ended with: when it does not read back,
the caller is told so (naming the step) instead of being given an older model under the run's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from mathpe_jax.errors import UserError
from mathpe_jax.run.checkpoint import PARAMS, CheckpointUnreadable, Checkpoints
from mathpe_jax.run.layout import CHECKPOINTS, CORRUPT_CHECKPOINTS


def restore_params(
    workdir: str | Path, model: nnx.Module, trainable: Any = nnx.Param, *, step: int = 0, quarantine: bool = False
) -> int:
    """Loads the ``trainable`` variables (and random streams) of checkpoint ``step`` of ``workdir``
    into ``model`` and returns the step; 0 when the run has no checkpoint at all.

    ``step=0`` means the step training ended with. An unreadable step raises
    ``CheckpointUnreadable`` naming it and the readable steps left; with ``quarantine`` (the caller
    holds the run's lock) it is first moved to ``checkpoints_corrupt/``, as on resume.
    """
    if not (Path(workdir) / CHECKPOINTS).is_dir():
        return 0
    _, params, rngs, _ = nnx.split(model, trainable, nnx.RngState, ...)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"params": params, "rngs": rngs})
    checkpoints = Checkpoints(workdir, read_only=not quarantine)
    try:
        final = checkpoints.final_step()
        if final is None:
            return 0
        target = step or final
        on_disk = checkpoints.steps()
        if target not in on_disk:
            if target == final:  # moved aside as corrupt by an earlier command
                raise CheckpointUnreadable(target, _explain(f"checkpoint step {target} of {workdir} was moved to {CORRUPT_CHECKPOINTS}/ as unreadable", target, final, on_disk))
            raise UserError(f"run directory {workdir} has no checkpoint step {target} (steps on disk: {_listed(on_disk)})")
        try:
            items = checkpoints.restore(target, {PARAMS: abstract}, quarantine=quarantine)
        except CheckpointUnreadable as err:
            raise CheckpointUnreadable(target, _explain(str(err), target, final, checkpoints.steps())) from None
    finally:
        checkpoints.close()
    nnx.update(model, items[PARAMS]["params"], items[PARAMS]["rngs"])
    return target


def _listed(steps: list[int]) -> str:
    return ", ".join(map(str, steps)) or "none"


def _explain(problem: str, target: int, final: int, on_disk: list[int]) -> str:
    """``problem`` and what the user can do about it."""
    older = [s for s in on_disk if s < target]
    if target == final:
        what = "it is the step the run's training ended with: rerun the training command to redo it"
    else:
        what = "choose another step"
    choice = f", or evaluate an older step with --config.eval.step={older[-1]}" if older else ""
    return f"{problem}; {what}{choice} (other steps on disk: {_listed([s for s in on_disk if s != target])})"
