"""Exact, numeric and step-by-step verdicts of the synthetic tasks on their completions."""

from __future__ import annotations

import numpy as np
import pytest

from mathpe_jax.data.tasks import make_task
from mathpe_jax.data.tasks.expression import Expression
from mathpe_jax.data.tasks.synthetic import Example, check_chain
from mathpe_jax.grading.prediction import Completion


def _task(name: str, reverse: bool = False):
    return make_task({"name": name, "reverse": reverse, "train_lengths": (1, 2), "test_lengths": (3,)})


def answer_value(answer: str, name: str, reverse: bool):
    return _task(name, reverse).answer_value(answer)


def step_chain(prompt: str, completion: str, name: str, reverse: bool):
    return _task(name, reverse).step_chain(prompt, completion)


def _grade(example: Example, completion: str, task: str, reverse: bool = False, ended: bool = True):
    (prediction,) = _task(task, reverse).grade([
        Completion(
            problem_id="t/1/0", prompt=example.prompt, gold=example.answer, completion=completion,
            completion_tokens=len(completion) + ended, ended=ended, length=example.length,
            length_bucket="in_distribution",
        )
    ])
    return prediction


# 12 + 39 = 51, written least-significant digit first; 25 + 25 = 50 reads "05".
REVERSED = Example("21+93=", "15", 2)
ROUND = Example("52+52=", "05", 2)


def test_reversed_numbers_are_read_back_before_comparing() -> None:
    assert answer_value("15", "addition", reverse=True) == 51
    assert answer_value("05", "addition", reverse=True) == 50
    assert answer_value("050", "addition", reverse=True) == 50
    assert answer_value("5+", "addition", reverse=True) is None
    assert answer_value("0123", "copy", reverse=False) is None


def test_exact_and_numeric_verdicts() -> None:
    right = _grade(REVERSED, "15", "addition", reverse=True)
    assert (right.correct, right.symbolic_correct, right.error_class) == (True, True, "correct")
    padded = _grade(ROUND, "050", "addition", reverse=True)  # 50 with a leading zero, reversed
    assert (padded.correct, padded.symbolic_correct) == (False, True)
    wrong = _grade(REVERSED, "16", "addition", reverse=True)
    assert (wrong.symbolic_correct, wrong.error_class, wrong.first_wrong_step) == (False, "calculation_error", 0)
    assert (wrong.n_steps, wrong.n_equations) == (1, 1)


def test_an_answer_without_eos_is_truncated_and_never_right() -> None:
    p = _grade(REVERSED, "15", "addition", reverse=True, ended=False)
    assert (p.correct, p.symbolic_correct, p.truncated, p.error_class) == (False, False, True, "truncated")


def test_an_empty_answer_is_no_answer() -> None:
    assert _grade(REVERSED, "", "addition", reverse=True).error_class == "no_answer"


def test_copy_has_no_number_so_symbolic_is_exact() -> None:
    example = Example("0071|", "0071", 4)
    assert _grade(example, "0071", "copy").symbolic_correct
    p = _grade(example, "071", "copy")
    assert (p.symbolic_correct, p.error_class, p.n_equations) == (False, "reasoning_error", 0)


EXPR = Example("3+4*2-1=", "3+8-1=11-1=10", 4)


def test_expression_chain_steps_are_checked_one_by_one() -> None:
    assert step_chain(EXPR.prompt, EXPR.answer, "expression", reverse=True) == ["3+4*2-1", "3+8-1", "11-1", "10"]
    right = _grade(EXPR, EXPR.answer, "expression")
    assert (right.correct, right.n_steps, right.fraction_equations_correct, right.first_wrong_step) == (True, 3, 1.0, None)
    slip = _grade(EXPR, "3+8-1=12-1=11", "expression")  # 3+8 = 12 is wrong, 12-1 = 11 is right
    assert (slip.error_class, slip.first_wrong_step) == ("calculation_error", 1)
    assert slip.fraction_equations_correct == pytest.approx(2 / 3)
    shortcut = _grade(EXPR, "10", "expression")  # right value, steps skipped
    assert (shortcut.correct, shortcut.symbolic_correct, shortcut.n_steps) == (False, True, 1)
    unfinished = _grade(EXPR, "3+8-1=11-1", "expression")  # every step right, no final number
    assert (unfinished.symbolic_correct, unfinished.error_class) == (False, "reasoning_error")


def test_check_chain_counts_an_unparseable_side_as_wrong() -> None:
    audit = check_chain(["2*3", "6", "6+"])
    assert [eq.correct for eq in audit.equations] == [True, False]
    assert (audit.n_steps, audit.first_wrong_step) == (2, 1)
    assert check_chain(["5"]).fraction_correct is None


def test_generated_expression_answers_pass_their_own_checks() -> None:
    """Negative intermediate values (``2--13``) must parse: the gold chain of every generated
    example is all right."""
    rng = np.random.default_rng(0)
    for length in (1, 3, 6):
        for _ in range(30):
            e = Expression.generate(rng, length, False)
            p = _grade(e, e.answer, "expression")
            assert p.correct and p.symbolic_correct and p.first_wrong_step is None, e
