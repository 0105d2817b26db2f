"""Accuracy by problem length, pooled over the length groups of ``data.tasks.buckets``.

A text dataset reports accuracy per question-length bucket; a synthetic task per operand length and
pooled in and out of the training range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from absl import logging

from mathpe_jax.data.tasks.buckets import BUCKETS, IN_DISTRIBUTION, OUT_OF_DISTRIBUTION, length_group
from mathpe_jax.eval.metrics import accuracy
from mathpe_jax.grading.prediction import Prediction

__all__ = ["accuracy_by", "length_report"]


def accuracy_by(predictions: Iterable[Prediction], groups: Sequence[str] = BUCKETS) -> dict[str, dict[str, Any]]:
    """``{group: {n, exact_match, symbolic_accuracy}}`` over ``Prediction.length_bucket``; an empty
    group has ``n = 0`` and null accuracies."""
    members: dict[str, list[Prediction]] = {group: [] for group in groups}
    for p in predictions:
        members[p.length_bucket].append(p)
    return {group: accuracy(items) for group, items in members.items()}


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
