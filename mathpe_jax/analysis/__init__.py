"""Analysis of finished sweeps: run directories found and grouped, metrics summarised over seeds,
PEs compared problem by problem with multiple-testing correction.

It reads run directories only (``config.json``, ``results.json``, ``predictions.jsonl``) and never
trains or loads a model, so it imports no JAX and runs wherever the files are copied.

Public names: ``Run``, ``find_runs``, ``find_missing``, ``group_runs`` (``aggregate``); ``seed_summary``,
``mcnemar_paired``, ``paired_permutation``, ``holm``, ``rank_table``, ``compare_labels``
(``stats``); ``accuracy_by_label``, ``accuracy_by_length``, ``operand_grid``, ``training_curves``,
``error_classes``, ``efficiency``, ``attention_profile``, ``grid_means``, ``efficiency_values``,
``attention_layer_means``, ``label_colours`` (``plots``: one PNG per figure, Agg canvas).
"""

from mathpe_jax.analysis.aggregate import Run, find_missing, find_runs, group_runs
from mathpe_jax.analysis.plots import (
    accuracy_by_label,
    accuracy_by_length,
    attention_layer_means,
    attention_profile,
    efficiency,
    efficiency_values,
    error_classes,
    grid_means,
    label_colours,
    operand_grid,
    training_curves,
)
from mathpe_jax.analysis.stats import (
    compare_labels,
    holm,
    mcnemar_paired,
    paired_permutation,
    rank_table,
    seed_summary,
)

__all__ = [
    "Run",
    "accuracy_by_label",
    "accuracy_by_length",
    "attention_layer_means",
    "attention_profile",
    "compare_labels",
    "efficiency",
    "efficiency_values",
    "error_classes",
    "find_missing",
    "find_runs",
    "grid_means",
    "group_runs",
    "holm",
    "label_colours",
    "mcnemar_paired",
    "operand_grid",
    "paired_permutation",
    "rank_table",
    "seed_summary",
    "training_curves",
]
