"""Tiny run configs and a subprocess runner for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

# A model and budget small enough for seconds per run on a 2-core CPU.
TINY_OVERRIDES = {
    "model.width": 32,
    "model.num_layers": 2,
    "model.num_heads": 2,
    "model.num_kv_heads": 1,
    "model.mlp_dim": 64,
    "model.max_len": 64,
    "task.train_lengths": (1, 2),
    "task.test_lengths": (3,),
    "train.steps": 20,
    "train.batch_size": 16,
    "train.log_every": 5,
    "train.checkpoint_every": 10,
    "train.warmup_steps": 2,
    "eval.examples_per_length": 8,
    "eval.batch_size": 8,
}


# ``python -m mathpe_jax.main`` whose every step after the first checkpoint waits a second, so that
# a signal sent once that checkpoint is on disk lands mid-run however fast or loaded the machine is.
# The batches are the same: only their timing changes. Run as ``python -c SLOWED_MAIN ARGS``.
SLOWED_MAIN = """
import time
from mathpe_jax import build, main

batch_fn = build.batch_fn

def slowed(config, tokenizer):
    batches = batch_fn(config, tokenizer)

    def batch(step):
        if step >= config.train.checkpoint_every:
            time.sleep(1.0)
        return batches(step)

    return batch

build.batch_fn = slowed
main.console()
"""


def override(config, overrides: dict):
    """Sets dotted keys (``"train.steps"``) of ``config`` in place, as ``--config.train.steps`` would."""
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def tiny_config(name: str = "rope", **overrides):
    """The config file ``configs/<name>.py`` with the tiny overrides applied (in-process runs)."""
    import importlib

    return override(importlib.import_module(f"configs.{name}").get_config(), {**TINY_OVERRIDES, **overrides})


def main_command(workdir: Path, config: str = "rope", **overrides) -> list[str]:
    args = [sys.executable, "-m", "mathpe_jax.main", f"--config=configs/{config}.py", f"--workdir={workdir}"]
    for key, value in {**TINY_OVERRIDES, **overrides}.items():
        args.append(f"--config.{key}={value}")
    return args


def run_command(args: list[str], timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs ``args`` from the repository root on the CPU, with ``env`` added to the environment; the
    timeout is generous, for a 2-core machine that other work shares."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def run_main(
    workdir: Path, config: str = "rope", timeout: float = 900, env: dict[str, str] | None = None, **overrides
) -> subprocess.CompletedProcess:
    return run_command(main_command(workdir, config, **overrides), timeout, env)
