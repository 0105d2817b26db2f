"""Step splitting, exact equation checking and error classification."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

import pytest

from mathpe_jax.grading.steps import (
    ERROR_CLASSES,
    check_equations,
    classify_error,
    evaluate_arithmetic,
    split_steps,
)

JANET = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n"
    "#### 18"
)


def test_split_steps_lines_and_sentences() -> None:
    text = "First, 3.5 + 1 = 4.5 cups. Then we double it!\n\n  So 9 cups.  \n#### 9"
    assert split_steps(text) == ["First, 3.5 + 1 = 4.5 cups.", "Then we double it!", "So 9 cups.", "#### 9"]
    assert split_steps("") == []


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("2+3*4", Fraction(14)),
        ("(3+4)*2", Fraction(14)),
        ("48/2", Fraction(24)),
        ("10/4", Fraction(5, 2)),
        ("-3 - -2", Fraction(-1)),
        ("1,450,000 - 50", Fraction(1449950)),
        ("$3.50 x 4", Fraction(14)),
        ("6 × 7 ÷ 2", Fraction(21)),
        ("20% * 50", Fraction(10)),
        (".5 * 8", Fraction(4)),
        ("1/0", None),
        ("2**3", None),
        ("__import__('os').system('true')", None),
        ("3 +", None),
        ("(3 + 4", None),
        pytest.param("(" * 2000 + "1" + ")" * 2000, None, id="deeply-nested"),
        pytest.param("9" * 5000 + "*2", None, id="5000-digit-number"),
        ("", None),
    ],
)
def test_evaluate_arithmetic(expr: str, value: Fraction | None) -> None:
    assert evaluate_arithmetic(expr) == value


def test_gsm8k_solution_all_correct() -> None:
    check = check_equations(JANET)
    assert check.n_steps == 3
    assert [eq.text for eq in check.equations] == ["16-3-4 = 9", "9*2 = 18"]
    assert check.fraction_correct == 1.0
    assert check.first_wrong_step is None


def test_first_wrong_step_and_fraction() -> None:
    text = "He buys 3 * 4 = 12 apples.\nThen 12 + 5 = 18 in total.\nSo 18 / 2 = 9 each."
    check = check_equations(text)
    assert [eq.correct for eq in check.equations] == [True, False, True]
    assert check.fraction_correct == pytest.approx(2 / 3)
    assert check.first_wrong_step == 1


def test_wrong_annotation_is_caught() -> None:
    check = check_equations("So 48/2 = <<48/2=25>>25 clips.")
    assert check.n_equations == 1
    assert check.first_wrong_step == 0


@pytest.mark.parametrize(
    ("text", "verdicts"),
    [
        ("1,200 + 300 = 1,500", [True]),
        ("3 x 4 = 12 and 6 × 7 = 42", [True, True]),
        ("10 / 3 = 3.33", [True]),  # a written decimal may be rounded
        ("2 / 3 = 0.66", [True]),  # ... or truncated
        ("10 / 3 = 3", [False]),  # an integer result is exact
        ("18 / 450 x 100 = 4%", [True]),
        ("30 - 8 * 3 = 30 - 24 = 6", [True, True]),  # chains check each link
        ("2 * 3 = 6 * 2 = 12", [True, True]),  # ... and may carry a result on
        ("2 * 3 = 7 * 2 = 14", [False, True]),
        ("14 * 1/2 = 14 / 2 = 7", [True, True]),
        ("It took 5 - 1 - 1/2 = 3 1/2 hours", []),  # mixed numbers are not misread
        ("and 3x + 4 - 4 = 28 - 4", []),  # algebra is not arithmetic
        ("Alex: 5+(4x-13)=4x-8", []),
        ("she has 5 = 5 apples", []),  # no operator, no claim
        ("The price is $350 000 + $17500 = $367 500.", []),
        ("It weighs 60g * 4/5 = 240g/5 = 48 grams", []),
    ],
)
def test_equation_detection(text: str, verdicts: list[bool]) -> None:
    assert [eq.correct for eq in check_equations(text).equations] == verdicts


def test_no_equations() -> None:
    check = check_equations("The answer is clearly 7.")
    assert check.n_equations == 0
    assert check.fraction_correct is None
    assert check.first_wrong_step is None


def test_linear_time_on_long_sums() -> None:
    text = "Jack has " + " + ".join(f"{i} * $100" for i in range(3000)) + " bills."
    start = time.process_time()  # CPU time: load does not stretch it
    check_equations(text)
    check_equations("1 = " * 20_000)
    assert time.process_time() - start < 2.0


def test_gsm8k_reference_solutions_are_arithmetically_right(data_dir: Path) -> None:
    with (data_dir / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        checks = [check_equations(json.loads(line)["answer"]) for line in f]
    n_equations = sum(c.n_equations for c in checks)
    n_wrong = sum(not eq.correct for c in checks for eq in c.equations)
    assert n_equations > 4000
    assert n_wrong <= 5  # the few genuine slips in the reference solutions


@pytest.mark.parametrize(
    ("completion", "pred", "gold", "correct", "truncated", "label"),
    [
        (JANET, "18", "18", True, False, "correct"),
        (JANET, "18", "18", False, False, "ungraded"),
        ("Janet sells 16 - 3 - 4 = 9 eggs and", None, "18", False, True, "truncated"),
        ("I do not know.", None, "18", False, False, "no_answer"),
        ("16 - 3 - 4 = 8 eggs, 8 * 2 = 16 dollars.\n#### 16", "16", "18", False, False, "calculation_error"),
        ("16 - 3 = 13 eggs, 13 * 2 = 26 dollars.\n#### 26", "26", "18", False, False, "reasoning_error"),
    ],
)
def test_classify_error(
    completion: str, pred: str | None, gold: str, correct: bool, truncated: bool, label: str
) -> None:
    assert label in ERROR_CLASSES
    undecided = label == "ungraded"
    assert classify_error(completion, pred, gold, correct, truncated, undecided=undecided) == label
