"""Accuracy by problem length, pooled over the length groups of ``data.tasks.buckets``.

A text dataset reports accuracy per question-length bucket; a synthetic task per operand length and
pooled in and out of the training range, with, per length, what training could have shown of the
test set (``overlap``), digit-by-digit scores for digit-string answers, and, for a task trained on
operands of unequal length, a grid over the two operand lengths.

Digit scores compare the completion with the gold answer character by character in the order the
answer is written (for reversed numbers, least-significant digit first), from the first character
the model writes, so they show where along its own output a model goes wrong:

* ``digit_accuracy``: the mean over problems of the fraction of the gold answer's positions the
  completion matches; a missing position counts wrong, a surplus one is left to exact match;
* ``first_wrong_digit``: ``{position: count}`` over completions that are not exactly right: the
  first position where they differ from the gold answer (where one ends first, the shorter's
  length; a right answer that never ended, the gold answer's length).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from absl import logging

from mathpe_jax.data.tasks.buckets import BUCKETS, IN_DISTRIBUTION, OUT_OF_DISTRIBUTION, length_group
from mathpe_jax.eval.metrics import accuracy
from mathpe_jax.grading.prediction import Prediction

__all__ = ["accuracy_by", "digit_report", "first_difference", "length_report", "operand_grid"]


def accuracy_by(predictions: Iterable[Prediction], groups: Sequence[str] = BUCKETS) -> dict[str, dict[str, Any]]:
    """``{group: {n, exact_match, symbolic_accuracy}}`` over ``Prediction.length_bucket``; an empty
    group has ``n = 0`` and null accuracies."""
    members: dict[str, list[Prediction]] = {group: [] for group in groups}
    for p in predictions:
        members[p.length_bucket].append(p)
    return {group: accuracy(items) for group, items in members.items()}


def first_difference(completion: str, gold: str) -> int:
    """The first position at which ``completion`` and ``gold`` differ (the shorter's length where
    one is a prefix of the other, ``len(gold)`` where they are equal)."""
    return next((i for i, (c, g) in enumerate(zip(completion, gold)) if c != g), min(len(completion), len(gold)))


def digit_report(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """``{"digit_accuracy", "first_wrong_digit"}`` of ``predictions`` (see the module docstring);
    the accuracy is null where there is nothing to score."""
    fractions = [sum(c == g for c, g in zip(p.completion, p.gold)) / len(p.gold) for p in predictions if p.gold]
    positions = Counter(first_difference(p.completion, p.gold) for p in predictions if not p.correct)
    return {
        "digit_accuracy": sum(fractions) / len(fractions) if fractions else None,
        "first_wrong_digit": {str(k): positions[k] for k in sorted(positions)},
    }


def length_report(
    predictions: Sequence[Prediction],
    lengths: Sequence[int],
    train_lengths: tuple[int, int],
    overlap: Mapping[int, Mapping[str, Any]] | None = None,
    digits: bool = False,
) -> dict[str, Any]:
    """``{"in_distribution", "out_of_distribution", "by_length": {"<n>": ...}}``, each entry
    ``{n, exact_match, symbolic_accuracy}`` (accuracies null where ``n`` is 0); a length entry adds
    ``overlap[n]`` (the task's ``prompt_space`` and ``possible_in_training``) and, with ``digits``,
    ``digit_report``'s figures."""
    per_length: dict[int, list[Prediction]] = {n: [] for n in sorted(lengths)}
    for p in predictions:
        per_length[p.length].append(p)
    by_length = {}
    for n, items in per_length.items():
        entry = accuracy(items) | dict((overlap or {}).get(n, {}))
        if digits:
            entry |= digit_report(items)
        by_length[str(n)] = entry
        logging.info("length %d: exact match %s (n=%d)", n, entry["exact_match"], len(items))
    groups = {
        group: [p for n, items in per_length.items() if length_group(n, train_lengths) == group for p in items]
        for group in (IN_DISTRIBUTION, OUT_OF_DISTRIBUTION)
    }
    return {group: accuracy(items) for group, items in groups.items()} | {"by_length": by_length}


def operand_grid(
    predictions: Sequence[Prediction], operands: Sequence[tuple[int, ...]], pairs: Sequence[tuple[int, int]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"<len_a>": {"<len_b>": {n, exact_match, symbolic_accuracy}}}`` over every pair in
    ``pairs``, each prediction placed by its problem's operand lengths (``operands``, in order)."""
    cells: dict[tuple[int, int], list[Prediction]] = {pair: [] for pair in pairs}
    for p, (len_a, len_b) in zip(predictions, operands, strict=True):
        cells[len_a, len_b].append(p)
    grid: dict[str, dict[str, dict[str, Any]]] = {}
    for (len_a, len_b), items in cells.items():
        grid.setdefault(str(len_a), {})[str(len_b)] = accuracy(items)
    return grid
