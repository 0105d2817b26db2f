"""Entry point: ``python -m mathpe_jax.main --config=configs/rope.py [--workdir=DIR] [--mode=train|eval]``.

``train`` (the default) trains, or resumes, then evaluates; ``eval`` evaluates the newest
checkpoint of an existing run with the run's own config (``WORKDIR/config.json``): the
``--config`` file is not read, and ``--config.eval.*`` overrides are the only changes allowed.
Results go to ``WORKDIR/results.json``. Every failure a user can fix, and SIGTERM at any point,
ends in one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import sys

if __name__ == "__main__":
    # Until main() takes over: SIGTERM during the imports below has nothing to save.
    def _stopped_while_starting(signum, frame):
        del signum, frame
        print("stopped by SIGTERM during start-up; rerun the same command to resume", file=sys.stderr, flush=True)
        os._exit(143)

    signal.signal(signal.SIGTERM, _stopped_while_starting)

import contextlib  # noqa: E402
import errno  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from absl import flags, logging  # noqa: E402
from ml_collections import ConfigDict, config_flags  # noqa: E402

from mathpe_jax import cli  # noqa: E402

# Defined before the imports that load JAX: a mistake in the config file or an override key ends
# in its one line at once, not after seconds of imports.
_CONFIG = cli.DEFINE_config_file("config", "configs/rope.py", "Run config (a Python file with get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default runs/<config.name>.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"], "train (then evaluate) or evaluate an existing run.")

from mathpe_jax import build  # noqa: E402
from mathpe_jax.config import validate  # noqa: E402
from mathpe_jax.errors import UserError  # noqa: E402
from mathpe_jax.eval.suite import EvalSpec, evaluate  # noqa: E402
from mathpe_jax.parallel.distributed import initialize_from_env  # noqa: E402
from mathpe_jax.parallel.mesh import batch_rows, mesh_from_config  # noqa: E402
from mathpe_jax.run import (  # noqa: E402
    EVAL_CHANGES,
    RunDir,
    WorkdirUnusable,
    add_train_time,
    log_evaluation,
    outputs,
    restore_params,
    saved_config,
    write_results,
)
from mathpe_jax.run.layout import CONFIG, RESULTS  # noqa: E402
from mathpe_jax.train.trainer import train  # noqa: E402

SIGTERM_EXIT = 128 + signal.SIGTERM
# What to shrink when a model or batch does not fit in device memory.
_MEMORY_KEYS = "train.batch_size (or raise train.grad_accum), eval.batch_size, model.width, model.num_layers, model.mlp_dim, model.max_len, or shard with mesh.fsdp"


class Stopped(BaseException):
    """SIGTERM arrived; ``step`` is the run's step then (None when not known). A BaseException,
    so that no ``except Exception`` on the way swallows it."""

    def __init__(self, step: int | None = None):
        super().__init__(step)
        self.step = step

    def message(self) -> str:
        where = "" if self.step is None else f" at step {self.step}"
        return f"stopped by SIGTERM{where}; rerun the same command to resume"


def _mesh(config: ConfigDict):
    try:
        return mesh_from_config(config.mesh)
    except ValueError as err:
        raise UserError(f"config.mesh: {err}") from None


def check_batch(config: ConfigDict, rows: int) -> None:
    """The global batch is split evenly over the ``rows`` data-parallel devices."""
    if config.train.batch_size % rows:
        raise UserError(
            f"config.train.batch_size={config.train.batch_size}: must be divisible by the {rows} "
            "data-parallel devices (mesh.data x mesh.fsdp)"
        )


def run(config: ConfigDict, workdir: str | Path, mode: str) -> dict[str, Any]:
    """Trains (or resumes) then evaluates, or only evaluates (``mode="eval"``); returns results.json.

    Nothing is written before the config is validated against itself, the devices and the run's
    own config.json, and the run directory is locked. Raises ``Stopped`` when SIGTERM ends
    training (a checkpoint is saved).
    """
    import jax

    workdir = Path(workdir)
    validate(config)
    run_dir = RunDir(workdir)
    if mode == "eval":
        run_dir.require_existing()
        run_dir.check_config(config, EVAL_CHANGES)
    else:
        run_dir.check_config(config)
    if mode == "train" and config.eval.step:
        raise UserError(
            f"config.eval.step={config.eval.step} is for --mode=eval; training evaluates the step it ends with"
        )
    mesh = _mesh(config)
    if mode == "train":
        check_batch(config, batch_rows(mesh))
    chief = jax.process_index() == 0
    if chief:
        if mode == "eval":
            run_dir.open(config)
        else:
            run_dir.create(config)
        outputs.recover(workdir)  # an evaluation a killed process left half moved into place
    try:
        return _train_and_evaluate(config, workdir, mode, mesh, chief)
    finally:
        run_dir.release()


def _train_and_evaluate(config: ConfigDict, workdir: Path, mode: str, mesh, chief: bool) -> dict[str, Any]:
    import jax

    tokenizer = build.build_tokenizer(config, workdir)
    model = build.build_model(config, tokenizer, mesh)
    sections: dict[str, Any] = {}
    with jax.set_mesh(mesh):
        if mode == "train":
            outcome = train(model, build.batch_fn(config, tokenizer), dict(config.train), workdir, mesh,
                            trainable=build.trainable(config))
            if chief:
                add_train_time(workdir, outcome.wall_seconds)
            if outcome.interrupted:
                raise Stopped(outcome.step)
            build.save_adapters(config, model, workdir)
            step = outcome.step
            sections["train"] = {
                "step": step,
                "final_loss": outcome.final_loss,
                "tokens_per_second": outcome.tokens_per_second,
                "wall_seconds": outcome.wall_seconds,
            }
        else:
            step = restore_params(workdir, model, build.trainable(config), step=config.eval.step, quarantine=chief)
            if step == 0:
                raise WorkdirUnusable(f"run directory {workdir} has no readable checkpoint; train it first with --mode=train")
        try:
            return _evaluate(config, workdir, model, tokenizer, step, sections, chief)
        except Stopped:
            raise Stopped(step) from None


def _evaluate(config: ConfigDict, workdir: Path, model, tokenizer, step: int, sections: dict[str, Any], chief: bool) -> dict[str, Any]:
    """Evaluates the model of ``step`` and, on the chief, replaces the run's evaluation (files and
    results.json with ``sections``) as one unit, then logs it to TensorBoard."""
    logging.info("evaluating step %d of %s", step, workdir)
    if not chief:  # the chief writes; the others take part in the sharded decoding
        sections["eval"] = evaluate(model, tokenizer, EvalSpec.from_config(config), workdir)
        return {**build.describe(config), "step": step, "params": build.parameter_count(model), **sections}
    staging = outputs.stage(workdir)
    try:
        sections["eval"] = evaluate(model, tokenizer, EvalSpec.from_config(config), staging, run_dir=workdir)
        sections = {**build.describe(config), "step": step, "params": build.parameter_count(model), **sections}
        results = write_results(workdir, sections, out_dir=staging)
        with _sigterm_deferred():
            outputs.commit(workdir)
    finally:
        outputs.discard(workdir)
    logging.info("results written to %s", workdir / RESULTS)
    log_evaluation(workdir, results, config.to_dict())
    return results


@contextlib.contextmanager
def _sigterm_deferred() -> Iterator[None]:
    """SIGTERM waits until the block ends (a few renames), then stops the run as usual."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        raise Stopped()


def eval_config(workdir: Path, overrides: dict[str, Any]) -> ConfigDict:
    """The run's own config with command-line ``overrides`` (dotted keys), which may touch only
    evaluation settings."""
    for key in overrides:
        if not key.startswith("eval."):
            raise UserError(
                f"--config.{key}: --mode=eval evaluates the run's own config ({workdir / CONFIG}) "
                "and may change only eval.* settings"
            )
    config = saved_config(workdir)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def one_line(err: BaseException, workdir: Path | None = None) -> str | None:
    """The one-line message for a failure the user can act on, or None for a bug (traceback)."""
    if isinstance(err, UserError):
        return str(err)
    text = str(err)
    if isinstance(err, OSError) and err.errno == errno.ENOSPC or "No space left on device" in text:
        path = getattr(err, "filename", None) or workdir or "the run directory"
        return f"disk full: no space left on the device while writing {path}"
    if isinstance(err, PermissionError):
        return f"permission denied: {err.filename or workdir}"
    if isinstance(err, OSError) and err.filename:  # the file system refused a path: say which and why
        return f"cannot use {err.filename}: {err.strerror or err}"
    if "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text:
        return f"out of device memory (RESOURCE_EXHAUSTED): the model or batch is too large; shrink {_MEMORY_KEYS}"
    return None


def _raise_stopped(signum, frame) -> None:
    del signum, frame
    raise Stopped()


def main(argv) -> None:
    del argv
    signal.signal(signal.SIGTERM, _raise_stopped)
    workdir = None
    try:
        config = _CONFIG.value
        workdir = Path(_WORKDIR.value or Path("runs") / config.name)
        if _MODE.value == "eval":
            config = eval_config(workdir, config_flags.get_override_values(flags.FLAGS["config"]))
        initialize_from_env()
        run(config, workdir, _MODE.value)
    except Stopped as stop:
        print(stop.message(), file=sys.stderr, flush=True)
        sys.exit(SIGTERM_EXIT)
    except Exception as err:  # noqa: BLE001 - a user's error becomes one line, a bug keeps its traceback
        message = one_line(err, workdir)
        if message is None:
            raise
        cli.fail(message)


def console() -> None:
    """The ``mathpe-train`` console script."""
    cli.run(main)


if __name__ == "__main__":
    console()
