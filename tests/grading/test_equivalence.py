"""answers_match / grade: labelled pairs, adversarial input, real MATH-500 data."""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mathpe_jax.grading.equivalence import (
    GradeResult,
    _plain_number,
    _quick_status,
    _verify_in_helper,
    answers_match,
    compare_answers,
    grade,
    grade_many,
    normalize_answer,
)
from mathpe_jax.grading.extraction import extract_answer
from mathpe_jax.grading.prediction import Completion, grade_texts

# (prediction, gold, expected verdict)
GSM8K_STYLE = [
    ("18", "18", True),
    ("18.00", "18", True),
    ("18.0", "18", True),
    ("$18", "18", True),
    ("\\$18", "18", True),
    ("18 dollars", "18", True),
    ("1,450,000", "1450000", True),
    ("1450000", "1,450,000", True),
    ("1\\,450\\,000", "1450000", True),
    ("1{,}450{,}000", "1450000", True),
    ("-3", "-3", True),
    ("3", "-3", False),
    ("17", "18", False),
    ("180", "18", False),
    ("1.8", "18", False),
    ("12 apples", "12", True),
    ("12\\text{ inches}", "12", True),
    ("5\\text{ cm}^2", "5", True),
    ("\\text{5 apples}", "5", True),
    ("0.5", "0.50", True),
    ("7.5", "7.50", True),
    ("7.49", "7.5", False),
    ("$\\boxed{42}$", "42", True),
    ("42.", "42", True),
    ("1,000", "1000", True),
    ("1,2", "12", False),
    ("10", "100", False),
    ("", "5", False),
    ("   ", "5", False),
]

MATH_STYLE = [
    # fractions and decimals
    ("0.5", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", "\\frac12", True),
    ("\\tfrac{3}{4}", "0.75", True),
    ("1/2", "\\frac{1}{2}", True),
    ("\\frac{2}{4}", "\\frac{1}{2}", True),
    ("\\frac{1}{3}", "\\frac{1}{2}", False),
    ("\\frac{14}{3}", "4\\frac{2}{3}", True),
    ("-\\frac{1}{2}", "\\frac{-1}{2}", True),
    ("\\frac{1}{2}", "-\\frac{1}{2}", False),
    # float rounding: both sides rounded to 6 decimals when one is a float
    ("0.333333", "\\frac{1}{3}", True),
    ("0.333", "\\frac{1}{3}", False),
    ("0.33", "\\frac13", False),
    ("3.14", "\\pi", False),
    ("1.25", "\\frac{5}{4}", True),
    ("7.0001", "7", False),
    # percent
    ("50\\%", "50", True),
    ("50\\%", "0.5", True),
    ("50\\%", "\\frac{1}{2}", True),
    ("5.5\\%", "5.5", True),
    ("5.5\\%", "0.055", True),
    ("50", "0.5", False),
    ("40\\%", "50\\%", False),
    ("25 percent", "25\\%", True),
    # degrees and units
    ("30^\\circ", "30", True),
    ("90^{\\circ}", "90^\\circ", True),
    ("45^\\circ", "30^\\circ", False),
    ("\\frac{\\pi}{2}", "90^\\circ", False),
    ("x+2m", "x+2", False),
    ("4\\pi", "4", False),
    ("\\sqrt{3}\\mathrm{i}", "\\sqrt{3}", False),
    # radicals, powers, polynomials
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt2}{2}", True),
    ("11\\sqrt2", "11\\sqrt{2}", True),
    ("3\\sqrt{13}", "\\sqrt{117}", True),
    ("3\\sqrt{13}", "\\sqrt{113}", False),
    ("2^{10}", "1024", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+2x+1", "(x-1)^2", False),
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "x^5-x^4+x^3-x^2+x-1", True),
    ("p - q", "-q + p", True),
    ("p - q", "q - p", False),
    # complex numbers
    ("6 - 5i", "6-5i", True),
    ("-2 + 7i", "7i - 2", True),
    ("6+9i", "6-9i", False),
    # tuples, sets, intervals
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("(3, \\frac{\\pi}{2})", "(\\frac{\\pi}{2}, 3)", False),
    ("(6,31,-1)", "(6, 31, -1)", True),
    ("(6,31,-1)", "(6,-1,31)", False),
    ("(1,2)", "(2,1)", False),
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("\\{1,2\\}", "\\{1,3\\}", False),
    ("1,-2", "-2, 1", True),
    ("3, 5, 7", "7, 5, 3", True),
    ("3, 5, 7", "3, 5", False),
    ("1,2", "\\{1,2\\}", True),
    ("(0,1]", "(0,1]", True),
    ("(0,1]", "(0, 1]", True),
    ("(0,1]", "[0,1)", False),
    ("[2,5)", "[2,5]", False),
    ("(-\\infty, 3) \\cup (4, \\infty)", "(-\\infty,3)\\cup(4,\\infty)", True),
    ("(-\\infty, 3)", "(-\\infty, 3]", False),
    # matrices and vectors
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        True,
    ),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}",
        False,
    ),
    ("\\begin{pmatrix} 1/2 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ -1 \\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", False),
    # equations and plus-minus
    ("x = 3", "3", True),
    ("3", "x=3", True),
    ("x=5", "x = 5", True),
    ("y = 3", "x = 3", False),
    ("x = 4", "3", False),
    ("y = 2x + 1", "y=1+2x", True),
    ("\\pm 2", "2, -2", True),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt3, 2-\\sqrt3", True),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt3", False),
    # text answers and multiple choice
    ("\\text{Evelyn}", "Evelyn", True),
    ("\\text{Evelyn}", "\\text{Bob}", False),
    ("\\text{(C)}", "C", True),
    ("\\text{(C)}", "\\text{(D)}", False),
    ("\\cot x", "\\cot{x}", True),
    ("\\infty", "\\infty", True),
    ("\\infty", "-\\infty", False),
    # bases and currency
    ("52_8", "52_8", True),
    ("\\$5.00", "5", True),
    ("\\$5.50", "5", False),
    ("1,000,000", "10^6", True),
    ("1,23", "123", False),
    # inequalities against the sets they describe; several boxes; repeating decimals
    ("x \\geq 5", "[5,\\infty)", True),
    ("x > 5", "[5,\\infty)", False),
    ("-2 \\le x \\le 7", "x \\in [-2,7]", True),
    ("x < 3", "3", False),
    ("\\boxed{1}\\boxed{2}", "\\{1,2\\}", True),
    ("\\boxed{1}\\boxed{3}", "\\{1,2\\}", False),
    ("0.\\overline{3}", "\\frac13", True),
    ("0.\\overline{3}", "0.3", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), GSM8K_STYLE + MATH_STYLE)
def test_labelled_pairs(pred: str, gold: str, expected: bool) -> None:
    assert answers_match(pred, gold) is expected


def test_enough_labelled_pairs_of_both_verdicts() -> None:
    cases = GSM8K_STYLE + MATH_STYLE
    assert len(cases) >= 80
    assert sum(expected for *_, expected in cases) >= 30
    assert sum(not expected for *_, expected in cases) >= 30


def test_identical_strings_match_without_parsing() -> None:
    huge = "x" * 100_000  # longer than anything the parser is ever given
    start = time.process_time()  # this process's CPU time: independent of the machine's load
    assert answers_match(huge, huge)
    assert answers_match("\\frac{\\unknowncommand}{", "\\frac{\\unknowncommand}{")
    assert time.process_time() - start < 0.5


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("$\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}"),
        ("\\left( 3, 4 \\right)", "( 3, 4 )"),
        ("1\\,000", "1000"),
        ("10,000.50", "10000.50"),
        ("\\$1,450", "1450"),
        ("5\\text{ cm}^2", "5"),
        ("\\frac{1}{2}\\text{ inches}", "\\frac{1}{2}"),
        ("4 pi", "4 pi"),
        ("1,2", "1,2"),
        ("42.", "42"),
        ("1,\\!000,\\!000", "1000000"),
        ("0.\\overline{3}", "\\frac{1}{3}"),
        ("0.1\\overline{6}", "\\frac{1}{6}"),
        ("75°", "75^\\circ"),
        ("25 percent", "25\\%"),
        ("\\frac{1}{3} \\textbf{meters}", "\\frac{1}{3}"),
        ("\\boxed{1}, \\boxed{2}", "1, 2"),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized
    assert normalize_answer(normalized) == normalized


ADVERSARIAL = [
    pytest.param("9^9^9^9^9", id="power-tower"),
    pytest.param("9^{9^{9^{9}}}", id="braced-power-tower"),
    pytest.param("99999999999999999999^{99999999999999}", id="huge-power"),
    pytest.param("x" * 100_000, id="100kB"),
    pytest.param("(" * 5000 + "1" + ")" * 5000, id="nested-parens-5000"),
    pytest.param("(" * 400 + "1" + ")" * 400, id="nested-parens-400"),
    pytest.param("{" * 300 + "1" + "}" * 300, id="nested-braces-300"),
    pytest.param("__import__('os').system('touch SENTINEL')", id="python-import"),
    pytest.param("\\text{__import__('os').system('touch SENTINEL')}", id="python-in-text"),
    pytest.param("exec(\"import os; os.system('touch SENTINEL')\")", id="python-exec"),
    pytest.param("open('SENTINEL', 'w').write('x')", id="python-open"),
    pytest.param("\\boxed{", id="unterminated-box"),
    pytest.param("\\boxed{\\frac{1}{", id="unterminated-frac"),
    pytest.param("\\frac{1}{0}", id="division-by-zero"),
]


@pytest.mark.parametrize("pred", ADVERSARIAL)
def test_adversarial_prediction_is_rejected_quickly(pred: str, tmp_path: Path) -> None:
    timeout_s = 1.0
    sentinel = tmp_path / "pwned"
    pred = pred.replace("SENTINEL", str(sentinel))
    # Rejected within its budget (CPU seconds, then a hard stop), never a hang; how long that takes
    # in wall time depends on the machine's load, so only the verdict is asserted.
    assert answers_match(pred, "2", timeout_s=timeout_s) is False
    assert not sentinel.exists()
    assert answers_match("0.5", "\\frac{1}{2}")  # the grader still works


def test_from_threads() -> None:
    pairs = [
        ("0.5", "\\frac{1}{2}", True),
        ("x^2+2x+1", "(x+1)^2", True),
        ("3", "4.0", False),
        ("50\\%", "0.5", True),
    ] * 3
    with ThreadPoolExecutor(max_workers=3) as pool:
        verdicts = list(pool.map(lambda case: answers_match(case[0], case[1]), pairs))
    assert verdicts == [expected for *_, expected in pairs]
    assert threading.current_thread() is threading.main_thread()


def test_from_a_worker_process() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(answers_match, ("0.5", "\\frac{1}{2}")) is True
        assert pool.apply(answers_match, ("9^{9^{9^{9}}}", "1"), {"timeout_s": 1.0}) is False


@pytest.mark.parametrize(
    ("completion", "gold", "dataset", "expected"),
    [
        ("So the total is 9 * 2 = 18.\n#### 18", "18", "gsm8k", GradeResult("18", True, True, "correct")),
        ("The answer is 18.00", "18", "gsm8k", GradeResult("18.00", False, True, "correct")),
        ("She makes $1,450,000 in total.", "1450000", "gsm8k", GradeResult("1450000", True, True, "correct")),
        (
            "We get $\\boxed{\\dfrac{1}{2}}$.",
            "\\frac{1}{2}",
            "math",
            GradeResult("\\dfrac{1}{2}", True, True, "correct"),
        ),
        ("We get $\\boxed{0.5}$.", "\\frac{1}{2}", "math", GradeResult("0.5", False, True, "correct")),
        ("We get $\\boxed{3}$.", "4", "math", GradeResult("3", False, False, "wrong")),
        ("I am not sure.", "4", "math", GradeResult(None, False, False, "no answer")),
        ("  579 ", "579", "synthetic", GradeResult("579", True, True, "correct")),
    ],
)
def test_grade(completion: str, gold: str, dataset: str, expected: GradeResult) -> None:
    assert grade(completion, gold, dataset) == expected


@pytest.fixture(scope="module")
def math500(data_dir: Path) -> list[dict]:
    with (data_dir / "math" / "test.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_math500_answers_match_themselves(math500: list[dict]) -> None:
    assert len(math500) == 500
    answers = [row["answer"] for row in math500]
    assert all(r.symbolic_match for r in grade_many(answers, answers, "synthetic"))


def test_math500_reference_solutions_are_graded_right(math500: list[dict]) -> None:
    results = grade_many([row["solution"] for row in math500], [row["answer"] for row in math500], "math")
    assert [r.status for r in results] == ["correct"] * 500


def test_gsm8k_reference_solutions_are_graded_right(data_dir: Path) -> None:
    with (data_dir / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    golds = [row["answer"].rsplit("#### ", 1)[1] for row in rows]
    assert [r.status for r in grade_many([row["answer"] for row in rows], golds, "gsm8k")] == ["correct"] * 1319


def test_plain_numbers_are_compared_as_math_verify_would(data_dir: Path) -> None:
    """The parser-free path for plain numbers gives math-verify's verdict, on real MATH answers
    and on rewritings of them (trailing zeros, scaled fractions, signs)."""
    rows = [json.loads(line) for line in (data_dir / "math" / "train.jsonl").open(encoding="utf-8")]
    numbers = sorted({n for n in (normalize_answer(r["answer"]) for r in rows) if _plain_number(n)})
    assert len(numbers) > 1000
    rng = random.Random(0)
    pairs = [tuple(rng.sample(numbers, 2)) for _ in range(150)]
    for n in rng.sample(numbers, 150):
        value, kind = _plain_number(n)
        if kind is None:
            rewritten = f"{n}.0"
        elif kind == "decimal":
            rewritten = n + "0" if len(n.split(".")[1]) < 6 else n
        else:
            rewritten = f"\\frac{{{value.numerator * 3}}}{{{value.denominator * 3}}}"
        pairs += [(n, rewritten), (n, "-" + rewritten if not rewritten.startswith("-") else rewritten[1:])]
    checked = 0
    for pred, gold in pairs:
        quick = _quick_status(pred, gold)
        if quick is not None:
            checked += 1
            assert quick == ("correct" if _verify_in_helper(pred, gold) else "wrong"), (pred, gold)
    assert checked > 400


@pytest.mark.slow  # three runaway powers, the last with evaluation's 5 s budget
def test_a_comparison_past_its_budget_is_reported_as_timed_out() -> None:
    assert compare_answers("\\frac{1}{2}", "0.5") == "correct"  # warm helpers
    assert compare_answers("9^{9^{9^{9}}}", "1", timeout_s=0.5) == "timed out"
    result = grade("So $x = \\boxed{9^{9^{9^{9}}}}$.", "1", "math", timeout_s=0.5)
    assert (result.status, result.symbolic_match, result.exact_match) == ("timed out", False, False)
    (prediction,) = grade_texts(
        [Completion("p/0", "q", "1", "So $x = \\boxed{9^{9^{9^{9}}}}$.", 12, True, 3, "short")], "math"
    )
    assert (prediction.grade_status, prediction.error_class) == ("timed out", "ungraded")


def test_missing_and_non_string_answers() -> None:
    assert compare_answers(None, "1") == "no answer"
    assert answers_match(None, "1") is False
    assert grade(None, "1", "math") == GradeResult(None, False, False, "no answer")
    for bad in (5, b"5", 0.5):
        with pytest.raises(TypeError, match=f"pred must be a str or None, got {type(bad).__name__}"):
            answers_match(bad, "5")
        with pytest.raises(TypeError, match=type(bad).__name__):
            grade_many(["5", bad], ["5", "5"], "math")
    with pytest.raises(TypeError, match="gold"):
        compare_answers("5", None)
    with pytest.raises(ValueError, match="2 completions but 1 gold"):
        grade_many(["1", "2"], ["1"], "math")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("\\text{" + "a" * 100_000, id="unclosed-text-100k"),
        pytest.param(" " * 100_000 + "\\%", id="spaces-then-percent-100k"),
        pytest.param("1 " + "ab " * 30_000, id="word-units-90k"),
        pytest.param("\\boxed{" * 30_000, id="unclosed-boxes"),
        pytest.param("$" * 100_001, id="dollars"),
        pytest.param("\\(" * 50_000, id="unclosed-parens"),
    ],
)
def test_normalisation_and_extraction_are_linear(answer: str) -> None:
    """Work outside the helper has no budget, so it must be linear: each of these took a minute
    with quadratic patterns. Measured in this process's CPU time, which load does not stretch."""
    start = time.process_time()
    normalize_answer(answer)
    extract_answer(answer, "math")
    assert compare_answers(answer, "1", timeout_s=1.0) == "wrong"
    assert time.process_time() - start < 2.0
