"""Accuracy of a synthetic task per test length, pooled in and out of the training range.

Every length, in and out of the training range, has its own fixed test set (same size, fixed by the
seed: ``synthetic.eval_examples``); in-distribution pools the training lengths, out-of-distribution
the others. This is where positional encodings differ most, so it is reported for every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from absl import logging

from mathpe_jax.eval.math_eval import Prediction, accuracy

__all__ = ["IN_DISTRIBUTION", "OUT_OF_DISTRIBUTION", "length_group", "length_report"]

IN_DISTRIBUTION, OUT_OF_DISTRIBUTION = "in_distribution", "out_of_distribution"


def length_group(length: int, train_lengths: tuple[int, int]) -> str:
    lo, hi = train_lengths
    return IN_DISTRIBUTION if lo <= length <= hi else OUT_OF_DISTRIBUTION


def length_report(
    predictions: Sequence[Prediction], lengths: Sequence[int], train_lengths: tuple[int, int]
) -> dict[str, Any]:
    """``{"in_distribution", "out_of_distribution", "by_length": {"<n>": ...}}``, each entry
    ``{n, exact_match, symbolic_accuracy}`` (accuracies null where ``n`` is 0)."""
    per_length: dict[int, list[Prediction]] = {n: [] for n in sorted(lengths)}
    for p in predictions:
        per_length[p.length].append(p)
    by_length = {}
    for n, items in per_length.items():
        by_length[str(n)] = accuracy(items)
        logging.info("length %d: exact match %s (n=%d)", n, by_length[str(n)]["exact_match"], len(items))
    groups = {
        group: [p for n, items in per_length.items() if length_group(n, train_lengths) == group for p in items]
        for group in (IN_DISTRIBUTION, OUT_OF_DISTRIBUTION)
    }
    return {group: accuracy(items) for group, items in groups.items()} | {"by_length": by_length}
