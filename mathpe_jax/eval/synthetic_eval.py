"""Grading of synthetic-task completions: exact, numeric and step by step.

A synthetic answer is the whole completion up to EOS. Three verdicts:

- exact: the completion ended with EOS and its text equals the target string;
- symbolic (numeric): the completion ended with EOS and states the same number as the target.
  Addition and multiplication compare the answers as integers, reading reversed numbers back
  (so a reversed ``"050"`` counts as 50, like the target ``"05"``); the expression task compares
  the last term of the chain (it must be a plain integer); the copy task has no number, so its
  symbolic verdict is the exact one;
- steps: arithmetic tasks are checked as a chain ``prompt = answer`` (addition, multiplication:
  one step) or ``prompt = step1 = step2 = ...`` (expression: every rewrite is a step), each step
  right when both sides have the same value (``steps.evaluate_arithmetic``, exact fractions,
  never ``eval``); a side that does not parse makes its step wrong.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from mathpe_jax.data.synthetic import Example
from mathpe_jax.grading.extraction import extract_answer
from mathpe_jax.eval.predictions import Prediction, audit_fields
from mathpe_jax.grading.steps import EquationCheck, StepEquation, evaluate_arithmetic

__all__ = ["ARITHMETIC_TASKS", "STEP_TASKS", "answer_value", "check_chain", "grade_synthetic", "step_chain"]

ARITHMETIC_TASKS = ("addition", "multiplication", "expression")
# Tasks whose answers write intermediate steps, so that step statistics mean something.
STEP_TASKS = ("expression",)
# Tasks whose numbers are written least-significant digit first when ``task.reverse`` is set.
_REVERSIBLE = ("addition", "multiplication")
_INTEGER = re.compile(r"-?\d+")
_DIGITS = re.compile(r"\d+")


def _as_written(text: str, task: str, reverse: bool) -> str:
    """``text`` with every number read back in the usual digit order."""
    if reverse and task in _REVERSIBLE:
        return _DIGITS.sub(lambda m: m.group()[::-1], text)
    return text


def answer_value(answer: str, task: str, reverse: bool) -> int | None:
    """The integer a synthetic answer states, or None (copy task, or not a plain integer)."""
    if task not in ARITHMETIC_TASKS:
        return None
    final = answer.split("=")[-1].strip() if task == "expression" else answer.strip()
    if not _INTEGER.fullmatch(final):
        return None
    return int(_as_written(final, task, reverse))


def step_chain(prompt: str, completion: str, task: str, reverse: bool) -> list[str]:
    """The terms claimed equal: the prompt's expression, then each ``=``-separated answer term."""
    question = _as_written(prompt.rstrip().removesuffix("="), task, reverse)
    return [question] + [_as_written(term, task, reverse) for term in completion.split("=")]


def check_chain(terms: Sequence[str]) -> EquationCheck:
    """Each adjacent pair of ``terms`` is one step (step ``i`` rewrites term ``i`` into ``i + 1``),
    right when both sides parse and have the same value."""
    equations = []
    for step, (left, right) in enumerate(itertools.pairwise(terms)):
        value = evaluate_arithmetic(left)
        correct = value is not None and value == evaluate_arithmetic(right)
        equations.append(StepEquation(step=step, text=f"{left.strip()} = {right.strip()}", correct=correct))
    n_correct = sum(eq.correct for eq in equations)
    return EquationCheck(
        n_steps=len(equations),
        equations=tuple(equations),
        fraction_correct=n_correct / len(equations) if equations else None,
        first_wrong_step=next((eq.step for eq in equations if not eq.correct), None),
    )


def _error_class(symbolic: bool, truncated: bool, extracted: str | None, audit: EquationCheck) -> str:
    """``steps.classify_error``'s order, with the chain audit in place of equations found in
    prose: correct, truncated, no_answer, calculation_error (a wrong step), else reasoning_error
    (every step holds yet the answer is wrong or unfinished; also any wrong copy)."""
    if symbolic:
        return "correct"
    if truncated:
        return "truncated"
    if extracted is None:
        return "no_answer"
    if audit.first_wrong_step is not None:
        return "calculation_error"
    return "reasoning_error"


def grade_synthetic(
    *,
    problem_id: str,
    example: Example,
    completion: str,
    completion_tokens: int,
    ended: bool,
    task: str,
    reverse: bool,
    length_bucket: str,
) -> Prediction:
    """Grade one completion (its text without special tokens; ``ended``: it stopped with EOS)."""
    extracted = extract_answer(completion, "synthetic")
    exact = ended and completion == example.answer
    gold_value = answer_value(example.answer, task, reverse)
    if gold_value is None:
        symbolic = exact
    else:
        symbolic = ended and extracted is not None and answer_value(extracted, task, reverse) == gold_value
    if task in ARITHMETIC_TASKS:
        audit = check_chain(step_chain(example.prompt, completion, task, reverse))
    else:
        audit = EquationCheck(n_steps=0, equations=(), fraction_correct=None, first_wrong_step=None)
    return Prediction(
        id=problem_id,
        prompt=example.prompt,
        completion=completion,
        extracted=extracted,
        gold=example.answer,
        correct=exact,
        symbolic_correct=symbolic,
        error_class=_error_class(symbolic, not ended, extracted, audit),
        length=example.length,
        length_bucket=length_bucket,
        truncated=not ended,
        completion_tokens=completion_tokens,
        **audit_fields(audit),
    )
