"""The run-directory contract: its layout, creating and locking a run, its saved config, its
checkpoints, its parameters for evaluation, results.json with provenance and its evaluation in
TensorBoard (see ``ARCHITECTURE.md``, "Run directory contract").

The names below are loaded on first use: ``run.layout`` is read by the sweep, its monitor and the
analysis without JAX, and importing any submodule runs this file first, so it must not import the
modules that need JAX (``restore``, ``checkpoint``) or tensorboardX until they are asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the submodule that defines it.
_EXPORTS = {
    "ALLOWED_CHANGES": "directory",
    "EVAL_CHANGES": "directory",
    "ConfigChanged": "directory",
    "RunDir": "directory",
    "RunLocked": "directory",
    "WorkdirUnusable": "directory",
    "first_difference": "directory",
    "saved_config": "directory",
    "RESULTS": "layout",
    "write_json_atomic": "layout",
    "add_train_time": "provenance",
    "git_commit": "provenance",
    "train_seconds": "provenance",
    "restore_params": "restore",
    "SCHEMA_VERSION": "results",
    "read_results": "results",
    "write_results": "results",
    "log_evaluation": "tensorboard",
}

__all__ = sorted([*_EXPORTS, "outputs"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
