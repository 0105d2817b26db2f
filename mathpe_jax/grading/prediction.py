"""One graded completion (``Prediction``, a line of ``predictions.jsonl``) and how a text
completion is graded into one.

Tasks grade their completions into this record, and evaluation pools them into metrics; it lives
here, below both, because it is made from text alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mathpe_jax.grading.equivalence import grade
from mathpe_jax.grading.steps import EquationCheck, check_equations, classify_error

__all__ = ["Prediction", "audit_fields", "grade_text"]


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
