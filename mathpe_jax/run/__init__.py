"""The run-directory contract: its layout, creating and locking a run, its saved config, its
checkpoints, its parameters for evaluation, results.json with provenance and its evaluation in
TensorBoard (see ``ARCHITECTURE.md``, "Run directory contract").

The names below are loaded on first use: the sweep, its monitor and the analysis import
``run.layout`` without JAX, and importing any submodule runs this file first, so it must not import
the modules that need JAX (``restore``, ``checkpoint``) until one of their names is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "ALLOWED_CHANGES": "mathpe_jax.run.directory",
    "EVAL_CHANGES": "mathpe_jax.run.directory",
    "ConfigChanged": "mathpe_jax.run.directory",
    "RunDir": "mathpe_jax.run.directory",
    "RunLocked": "mathpe_jax.run.directory",
    "WorkdirUnusable": "mathpe_jax.run.directory",
    "first_difference": "mathpe_jax.run.directory",
    "saved_config": "mathpe_jax.run.directory",
    "RESULTS": "mathpe_jax.run.layout",
    "write_json_atomic": "mathpe_jax.run.layout",
    "add_train_time": "mathpe_jax.run.provenance",
    "git_commit": "mathpe_jax.run.provenance",
    "train_seconds": "mathpe_jax.run.provenance",
    "restore_params": "mathpe_jax.run.restore",
    "SCHEMA_VERSION": "mathpe_jax.run.results",
    "read_results": "mathpe_jax.run.results",
    "write_results": "mathpe_jax.run.results",
    "log_evaluation": "mathpe_jax.run.tensorboard",
}

__all__ = sorted([*_EXPORTS, "outputs"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
