"""The training loop: sharded state, the jitted step, checkpoints, logs, resume and SIGTERM.

Batches come from ``batch_fn(step)``, a pure function of the step, so resuming needs no data
iterator state and reproduces an uninterrupted run exactly.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from mathpe_jax.data.batching import Batch
from mathpe_jax.parallel.mesh import to_global
from mathpe_jax.parallel.sharding import state_shardings
from mathpe_jax.progress import StepProgress
from mathpe_jax.run.checkpoint import OPT_STATE, PARAMS, Checkpoints
from mathpe_jax.train.logging import MetricsLog
from mathpe_jax.train.optimizer import learning_rate_schedule, make_optimizer, opt_state_shardings
from mathpe_jax.train.step import TrainState, make_train_step


@dataclasses.dataclass
class TrainResult:
    step: int
    final_loss: float
    tokens_per_second: float
    wall_seconds: float
    interrupted: bool  # stopped by SIGTERM before the last step (checkpoint saved)


class _StopFlag:
    """Turns SIGTERM (PBS walltime, qdel) into a flag the loop checks between steps."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        def handler(signum, frame):
            del frame
            logging.warning("received signal %d: saving a checkpoint and stopping", signum)
            self.raised = True

        self._previous = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._previous)


def _initial_state(model: nnx.Module, tx, mesh: jax.sharding.Mesh, trainable: Any):
    """Splits ``model`` into (graphdef, TrainState of the trainable part, frozen rest), placed on ``mesh``."""
    graphdef, params, rngs, frozen = nnx.split(model, trainable, nnx.RngState, ...)
    shardings = state_shardings(params, mesh)
    params = jax.device_put(params, shardings)
    opt_state = jax.jit(tx.init, out_shardings=opt_state_shardings(tx, params, shardings, mesh))(params)
    # On the mesh like the step's output, so the second call does not compile the step again.
    step = jax.device_put(np.zeros((), np.int32), NamedSharding(mesh, PartitionSpec()))
    return graphdef, TrainState(step, params, opt_state, rngs), frozen


def _items(state: TrainState) -> dict[str, Any]:
    """A train state as checkpoint items: what a model needs (``params``) apart from what only
    training needs (``opt_state``)."""
    return {PARAMS: {"params": state.params, "rngs": state.rngs}, OPT_STATE: state.opt_state}


def _restore(checkpoints: Checkpoints, state: TrainState, mesh: jax.sharding.Mesh) -> tuple[int, TrainState]:
    restored = checkpoints.restore_latest(jax.tree.map(ocp.utils.to_shape_dtype_struct, _items(state)))
    if restored is None:
        return 0, state
    step, items = restored
    logging.info("resumed from checkpoint step %d", step)
    step_array = jax.device_put(np.asarray(step, np.int32), NamedSharding(mesh, PartitionSpec()))
    return step, TrainState(step_array, items[PARAMS]["params"], items[OPT_STATE], items[PARAMS]["rngs"])


def train(
    model: nnx.Module,
    batch_fn: Callable[[int], Batch],
    train_config: Mapping[str, Any],
    workdir: str | Path,
    mesh: jax.sharding.Mesh,
    trainable: Any = nnx.Param,
) -> TrainResult:
    """Trains the ``trainable`` variables of ``model`` in place for ``train_config['steps']`` steps.

    Resumes from the newest good checkpoint in ``workdir``; on SIGTERM saves and returns early.
    """
    total_steps = train_config["steps"]
    tx = make_optimizer(train_config)
    schedule = learning_rate_schedule(train_config)
    model.train()  # enables dropout where a module has it (LoRA); eval() below turns it off
    graphdef, state, frozen = _initial_state(model, tx, mesh, trainable)
    checkpoints = Checkpoints(workdir, train_config["checkpoint_every"], train_config["keep_checkpoints"])
    start, state = _restore(checkpoints, state, mesh)
    is_chief = jax.process_index() == 0
    log = MetricsLog(workdir, resume_step=start, enabled=is_chief)
    step_fn = jax.jit(make_train_step(graphdef, tx, train_config["grad_accum"], mesh), donate_argnums=(0,))
    progress = StepProgress(start, total_steps)
    t0 = time.perf_counter()
    last_loss = float("nan")
    interrupted = False
    with _StopFlag() as stop:
        for step in range(start, total_steps):
            host_batch = batch_fn(step)
            state, metrics = step_fn(state, frozen, to_global(mesh, host_batch))
            done = step + 1
            if step == start:
                jax.block_until_ready(metrics)
                progress.start(done)
            else:
                progress.add_tokens(int((host_batch.positions >= 0).sum()))
            if done % train_config["log_every"] == 0 or done == total_steps:
                values = {k: float(v) for k, v in jax.device_get(metrics).items()}
                last_loss = values["loss"]
                values.update(lr=float(schedule(step)), tokens_per_second=progress.tokens_per_second())
                log.write(done, values)
                if is_chief:
                    progress.report(done, values["loss"], values["lr"])
            checkpoints.save(done, _items(state), force=done == total_steps or stop.raised)
            if stop.raised and done < total_steps:
                interrupted = True
                break
        checkpoints.wait()  # still under the flag: a SIGTERM now must not cut the last save short
    if np.isnan(last_loss):
        last_loss = log.last("loss")
    checkpoints.close()
    log.close()
    nnx.update(model, state.params, state.rngs)
    model.eval()
    return TrainResult(
        step=int(state.step),
        final_loss=last_loss,
        tokens_per_second=progress.tokens_per_second(),
        wall_seconds=time.perf_counter() - t0,
        interrupted=interrupted,
    )
