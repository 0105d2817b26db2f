"""Entry point: ``python -m mathpe_jax.main --config=configs/rope.py [--workdir=DIR] [--mode=train|eval]``.

``train`` (the default) trains, or resumes, then evaluates; ``eval`` evaluates the newest
checkpoint of an existing run directory. Results go to ``WORKDIR/results.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from absl import flags, logging

from mathpe_jax import cli, experiment
from mathpe_jax.config import validate
from mathpe_jax.parallel.distributed import initialize_from_env
from mathpe_jax.parallel.mesh import mesh_from_config
from mathpe_jax.train.checkpoint import CheckpointMismatch
from mathpe_jax.train.trainer import train

_CONFIG = cli.DEFINE_config_file("config", "configs/rope.py", "Run config (a Python file with get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default runs/<config.name>.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"], "train (then evaluate) or evaluate an existing run.")


def write_json_atomic(path: Path, obj) -> None:
    """Write to a temporary file, then rename: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def run(config, workdir: Path, mode: str) -> dict | None:
    """Trains and/or evaluates; returns the results written, or None when stopped by SIGTERM."""
    import jax

    mesh = mesh_from_config(config.mesh)
    chief = jax.process_index() == 0
    if chief:
        workdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(workdir / "config.json", json.loads(config.to_json()))
    tokenizer = experiment.build_tokenizer(config, workdir)
    model = experiment.build_model(config, tokenizer, mesh)
    train_config = dict(config.train)
    if mode == "eval":
        train_config["steps"] = 0  # restore the newest checkpoint, train nothing
    with jax.set_mesh(mesh):
        batches = experiment.batch_fn(config, tokenizer) if mode == "train" else None
        outcome = train(model, batches, train_config, workdir, mesh, trainable=experiment.trainable(config))
        if outcome.interrupted:
            logging.warning("stopped at step %d; run the same command again to resume", outcome.step)
            return None
        if mode == "train":
            experiment.save_adapters(config, model, workdir)
        evaluation = experiment.evaluate(config, model, tokenizer, workdir)
    results_path = workdir / "results.json"
    previous = json.loads(results_path.read_text()) if mode == "eval" and results_path.exists() else {}
    results = {
        **experiment.describe(config),
        "step": outcome.step,
        "params": experiment.parameter_count(model),
        "train": previous.get("train")
        or {
            "final_loss": outcome.final_loss,
            "tokens_per_second": outcome.tokens_per_second,
            "wall_seconds": outcome.wall_seconds,
        },
        "eval": evaluation,
    }
    if chief:
        write_json_atomic(results_path, results)
        logging.info("results written to %s", results_path)
    return results


def main(argv) -> None:
    del argv
    config = _CONFIG.value
    validate(config)
    initialize_from_env()
    workdir = Path(_WORKDIR.value or Path("runs") / config.name)
    try:
        run(config, workdir, _MODE.value)
    except CheckpointMismatch as err:
        sys.exit(f"error: {err}")


def console() -> None:
    """The ``mathpe-train`` console script."""
    cli.run(main)


if __name__ == "__main__":
    console()
