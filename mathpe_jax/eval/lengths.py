"""Accuracy by problem length: length buckets of a dataset, and a synthetic task's lengths.

Positional encodings differ most in how they cope with length, so every evaluation breaks accuracy
down by length, in one of two ways:

* a text dataset (GSM8K, MATH) is split into buckets by problem length. Bucket edges are the
  dataset's own tertiles, which gives three buckets of (nearly) equal size whatever the length unit
  (tokens or characters);
* a synthetic task has its own fixed test set per length, in and out of the training range (same
  size, fixed by the seed: ``synthetic.eval_examples``); in-distribution pools the training lengths,
  out-of-distribution the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from absl import logging

from mathpe_jax.eval.predictions import Prediction, accuracy

__all__ = [
    "BUCKETS",
    "IN_DISTRIBUTION",
    "OUT_OF_DISTRIBUTION",
    "accuracy_by",
    "accuracy_by_bucket",
    "length_bucket",
    "length_group",
    "length_report",
    "tertile_edges",
]

BUCKETS = ("short", "medium", "long")
IN_DISTRIBUTION, OUT_OF_DISTRIBUTION = "in_distribution", "out_of_distribution"


def tertile_edges(lengths: Sequence[float]) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``lengths`` (linear interpolation)."""
    if len(lengths) == 0:
        raise ValueError("tertile_edges needs at least one length")
    low, high = np.quantile(np.asarray(lengths, dtype=np.float64), [1 / 3, 2 / 3])
    return float(low), float(high)


def length_bucket(n_tokens_or_chars: float, edges: tuple[float, float]) -> str:
    """``"short"`` up to and including the first edge, ``"long"`` above the second, else ``"medium"``."""
    low, high = edges
    if low > high:
        raise ValueError(f"edges must be ascending, got {edges}")
    if n_tokens_or_chars <= low:
        return "short"
    if n_tokens_or_chars <= high:
        return "medium"
    return "long"


def accuracy_by_bucket(
    lengths: Sequence[float], correct: Sequence[bool], edges: tuple[float, float] | None = None
) -> dict[str, dict[str, float]]:
    """Accuracy and count per bucket: ``{"short": {"n": 10, "accuracy": 0.7}, ...}``.

    ``edges`` default to the tertiles of ``lengths``; pass the edges of a
    reference split to compare models or splits on the same buckets. An
    empty bucket reports ``n = 0`` and ``accuracy = nan``.
    """
    if len(lengths) != len(correct):
        raise ValueError(f"{len(lengths)} lengths but {len(correct)} verdicts")
    edges = tertile_edges(lengths) if edges is None else edges
    hits: dict[str, list[bool]] = {name: [] for name in BUCKETS}
    for length, ok in zip(lengths, correct):
        hits[length_bucket(length, edges)].append(bool(ok))
    return {
        name: {"n": len(values), "accuracy": float(np.mean(values)) if values else float("nan")}
        for name, values in hits.items()
    }


def accuracy_by(predictions: Iterable[Prediction], groups: Sequence[str] = BUCKETS) -> dict[str, dict[str, Any]]:
    """``{group: {n, exact_match, symbolic_accuracy}}`` over ``Prediction.length_bucket``; an empty
    group has ``n = 0`` and null accuracies."""
    members: dict[str, list[Prediction]] = {group: [] for group in groups}
    for p in predictions:
        members[p.length_bucket].append(p)
    return {group: accuracy(items) for group, items in members.items()}


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
