"""Analysis of finished sweeps: run directories found and grouped, metrics summarised over seeds,
PEs compared problem by problem with multiple-testing correction.

It reads run directories only (``config.json``, ``results.json``, ``predictions.jsonl``) and never
trains or loads a model, so it imports no JAX and runs wherever the files are copied.

Public names: ``Run``, ``find_runs``, ``group_runs`` (``aggregate``); ``seed_summary``,
``mcnemar_paired``, ``paired_permutation``, ``holm``, ``rank_table``, ``compare_labels``
(``stats``).
"""

from mathpe_jax.analysis.aggregate import Run, find_runs, group_runs
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
    "compare_labels",
    "find_runs",
    "group_runs",
    "holm",
    "mcnemar_paired",
    "paired_permutation",
    "rank_table",
    "seed_summary",
]
