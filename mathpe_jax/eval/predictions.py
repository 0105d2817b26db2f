"""Per-problem verdicts of an evaluation and the metrics pooled from them.

A ``Prediction`` is one line of ``predictions.jsonl``: everything needed to audit a reported figure
problem by problem. Metrics are computed from lists of predictions only, so they can be checked on
hand-written cases without a model.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mathpe_jax.grading.equivalence import grade
from mathpe_jax.grading.steps import ERROR_CLASSES, EquationCheck, check_equations, classify_error

__all__ = [
    "Prediction",
    "accuracy",
    "audit_fields",
    "grade_text",
    "reasoning_summary",
    "summarize",
    "write_predictions",
]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One graded completion.

    ``correct`` is the strict verdict (normalised strings equal; for synthetic tasks also ended by
    EOS), ``symbolic_correct`` the mathematical one, which is the accuracy to report. ``length`` is
    the problem's length (question tokens, or a synthetic task's operand length) and
    ``length_bucket`` its group. ``truncated``: the token budget ran out before EOS. The step fields
    come from the arithmetic audit of the completion (``steps.EquationCheck``).
    """

    id: str
    prompt: str
    completion: str
    extracted: str | None
    gold: str
    correct: bool
    symbolic_correct: bool
    error_class: str
    length: int
    length_bucket: str
    truncated: bool
    completion_tokens: int
    n_steps: int
    n_equations: int
    fraction_equations_correct: float | None
    first_wrong_step: int | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def audit_fields(audit: EquationCheck) -> dict[str, Any]:
    """The ``Prediction`` fields of an arithmetic audit."""
    return {
        "n_steps": audit.n_steps,
        "n_equations": audit.n_equations,
        "fraction_equations_correct": audit.fraction_correct,
        "first_wrong_step": audit.first_wrong_step,
    }


def grade_text(
    *,
    problem_id: str,
    prompt: str,
    completion: str,
    completion_tokens: int,
    truncated: bool,
    gold: str,
    dataset: str,
    length: int,
    length_bucket: str,
) -> Prediction:
    """Grade a GSM8K / MATH completion: extraction and equivalence (``grading.grade``), the audit of
    its written arithmetic (``steps.check_equations``) and its error class."""
    verdict = grade(completion, gold, dataset)
    error = classify_error(
        completion, verdict.extracted, gold, correct=verdict.symbolic_match, truncated=truncated
    )
    return Prediction(
        id=problem_id,
        prompt=prompt,
        completion=completion,
        extracted=verdict.extracted,
        gold=gold,
        correct=verdict.exact_match,
        symbolic_correct=verdict.symbolic_match,
        error_class=error,
        length=length,
        length_bucket=length_bucket,
        truncated=truncated,
        completion_tokens=completion_tokens,
        **audit_fields(check_equations(completion)),
    )


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
    """Accuracy (exact and symbolic), truncation rate, error-class counts and, when the completions
    write steps (``reasoning``), the step statistics; ``reasoning`` is null otherwise."""
    counts = dict.fromkeys(ERROR_CLASSES, 0)
    for p in predictions:
        counts[p.error_class] += 1
    return {
        **accuracy(predictions),
        "truncated_rate": _mean([float(p.truncated) for p in predictions]),
        "error_classes": counts,
        "reasoning": reasoning_summary(predictions) if reasoning else None,
    }


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    """One JSON object per line, in evaluation order."""
    with path.open("w", encoding="utf-8") as out:
        for p in predictions:
            out.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
