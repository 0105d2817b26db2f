"""The run-directory contract: creating and locking a run, its saved config, its parameters for
evaluation, results.json with provenance and its evaluation in TensorBoard (see
``ARCHITECTURE.md``, "Run directory contract")."""

from mathpe_jax.run.directory import (
    ALLOWED_CHANGES,
    EVAL_CHANGES,
    ConfigChanged,
    RunDir,
    RunLocked,
    WorkdirUnusable,
    first_difference,
    saved_config,
)
from mathpe_jax.run import outputs
from mathpe_jax.run.files import write_json_atomic
from mathpe_jax.run.provenance import add_train_time, git_commit, train_seconds
from mathpe_jax.run.restore import restore_params
from mathpe_jax.run.results import RESULTS, SCHEMA_VERSION, read_results, write_results
from mathpe_jax.run.tensorboard import log_evaluation

__all__ = [
    "ALLOWED_CHANGES",
    "EVAL_CHANGES",
    "RESULTS",
    "SCHEMA_VERSION",
    "ConfigChanged",
    "RunDir",
    "RunLocked",
    "WorkdirUnusable",
    "add_train_time",
    "first_difference",
    "git_commit",
    "log_evaluation",
    "outputs",
    "read_results",
    "restore_params",
    "saved_config",
    "train_seconds",
    "write_json_atomic",
    "write_results",
]
