"""What is graded (``Completion``), one graded completion (``Prediction``, a line of
``predictions.jsonl``), and how text completions are graded into predictions, all at once.

Tasks grade their completions into this record, and evaluation pools them into metrics; it lives
here, below both, because it is made from text alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from mathpe_jax.grading.equivalence import grade_many
from mathpe_jax.grading.steps import EquationCheck, check_equations, classify_error

__all__ = ["Completion", "Prediction", "audit_fields", "grade_texts"]


@dataclasses.dataclass(frozen=True)
class Completion:
    """One decoded answer to grade: ``completion`` is the text written for ``prompt`` (without
    special tokens), ``ended`` says it stopped with EOS; ``length`` is the problem's length and
    ``length_bucket`` its group."""

    problem_id: str
    prompt: str
    gold: str
    completion: str
    completion_tokens: int
    ended: bool
    length: int
    length_bucket: str


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One graded completion.

    ``correct`` is the strict verdict (normalised strings equal; for synthetic tasks also ended by
    EOS), ``symbolic_correct`` the mathematical one, which is the accuracy to report;
    ``grade_status`` is the grader's status (``equivalence.STATUSES``), where ``"timed out"`` and
    ``"failed"`` mark a verdict that could not be reached (error class ``ungraded``). ``length`` is
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
    grade_status: str
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


def grade_texts(completions: Sequence[Completion], dataset: str) -> list[Prediction]:
    """Grade GSM8K / MATH completions: extraction and equivalence for all at once
    (``equivalence.grade_many``), then each one's audit of its written arithmetic
    (``steps.check_equations``) and its error class."""
    verdicts = grade_many([c.completion for c in completions], [c.gold for c in completions], dataset)
    predictions = []
    for c, verdict in zip(completions, verdicts):
        error = classify_error(
            c.completion,
            verdict.extracted,
            c.gold,
            correct=verdict.symbolic_match,
            truncated=not c.ended,
            undecided=verdict.status in ("timed out", "failed"),
        )
        predictions.append(
            Prediction(
                id=c.problem_id,
                prompt=c.prompt,
                completion=c.completion,
                extracted=verdict.extracted,
                gold=c.gold,
                correct=verdict.exact_match,
                symbolic_correct=verdict.symbolic_match,
                grade_status=verdict.status,
                error_class=error,
                length=c.length,
                length_bucket=c.length_bucket,
                truncated=not c.ended,
                completion_tokens=c.completion_tokens,
                **audit_fields(check_equations(c.completion)),
            )
        )
    return predictions
