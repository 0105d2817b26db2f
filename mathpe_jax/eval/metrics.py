"""Per-problem verdicts of an evaluation and the metrics pooled from them.

A ``Prediction`` (``grading.prediction``) is one line of ``predictions.jsonl``: everything needed to
audit a reported figure problem by problem. Metrics are computed from lists of predictions only, so
they can be checked on hand-written cases without a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mathpe_jax.grading.prediction import Prediction
from mathpe_jax.grading.steps import ERROR_CLASSES

__all__ = [
    "accuracy",
    "reasoning_summary",
    "summarize",
    "write_predictions",
]


def _mean(values: Sequence[float]) -> float | None:
    """The mean, or None (JSON null) when there is nothing to average."""
    return sum(values) / len(values) if values else None


def accuracy(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """``{n, exact_match, symbolic_accuracy}``; accuracies are null when ``n`` is 0."""
    return {
        "n": len(predictions),
        "exact_match": _mean([float(p.correct) for p in predictions]),
        "symbolic_accuracy": _mean([float(p.symbolic_correct) for p in predictions]),
    }


def reasoning_summary(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Step statistics: mean steps and equations per completion, mean fraction of equations right
    (over completions that write at least one), and the share of completions with a wrong step."""
    audited = [p.fraction_equations_correct for p in predictions if p.fraction_equations_correct is not None]
    return {
        "mean_steps": _mean([p.n_steps for p in predictions]),
        "mean_equations": _mean([p.n_equations for p in predictions]),
        "n_with_equations": len(audited),
        "mean_fraction_correct": _mean(audited),
        "share_with_wrong_step": _mean([float(p.first_wrong_step is not None) for p in predictions]),
    }


def summarize(predictions: Sequence[Prediction], reasoning: bool = True) -> dict[str, Any]:
    """Accuracy (exact and symbolic), truncation rate, error-class counts, how many verdicts the
    grader could not reach (``grading``: timed out, failed; they count as wrong in the accuracy
    and the reader must see them) and, when the completions write steps (``reasoning``), the step
    statistics; ``reasoning`` is null otherwise."""
    counts = dict.fromkeys(ERROR_CLASSES, 0)
    for p in predictions:
        counts[p.error_class] += 1
    return {
        **accuracy(predictions),
        "truncated_rate": _mean([float(p.truncated) for p in predictions]),
        "error_classes": counts,
        "grading": {
            "timed_out": sum(p.grade_status == "timed out" for p in predictions),
            "failed": sum(p.grade_status == "failed" for p in predictions),
        },
        "reasoning": reasoning_summary(predictions) if reasoning else None,
    }


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    """One JSON object per line, in evaluation order."""
    with path.open("w", encoding="utf-8") as out:
        for p in predictions:
            out.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
