"""extract_answer / final_boxed on hand-written completions and the real GSM8K and MATH files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathpe_jax.grading.extraction import extract_answer, final_boxed


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
        ("Total: 1,450,000 - 50 = 1,449,950\n#### 1,450,000", "1450000"),
        ("#### -3", "-3"),
        ("#### $25", "25"),
        ("#### 12.50", "12.50"),
        ("first #### 4\nthen #### 5", "5"),
        ("So 3 + 4 = 7. The answer is 7.", "7"),
        ("The answer is: $1,200.", "1200"),
        ("The answer is 12 apples, not 13", "12"),
        ("Hence the result is $\\boxed{42}$ and we check 41 + 1 = 42 once more", "42"),
        ("She had 5 apples and ate 2, so 3 are left", "3"),
        ("Prices: 1,2 and 3", "3"),
        ("It costs .5 dollars", ".5"),
        ("Nothing numeric here", None),
        ("", None),
    ],
)
def test_gsm8k(text: str, expected: str | None) -> None:
    assert extract_answer(text, "gsm8k") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so $x = \\boxed{5}$.", "5"),
        ("first $\\boxed{1}$, corrected: $\\boxed{2}$", "2"),
        ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
        ("$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("$\\boxed{\\{1, 2\\}}$", "\\{1, 2\\}"),
        ("$\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}$", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
        ("the answer is $\\boxed 5$.", "5"),
        ("\\boxed 9", "9"),
        ("$\\fbox{7}$", "7"),
        ("$\\boxed{ 3 }$", "3"),
        ("$\\boxed{3}$ then a truncated \\boxed{4", "3"),
        ("\\boxed{", None),
        ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
        ("Final Answer: The final answer is 12. I hope it is correct.", "12"),
        ("So the answer is $x^2+1$.", "x^2+1"),
        ("The answer is $\\frac{3}{4}$, since both methods agree.", "\\frac{3}{4}"),
        ("**Answer:** 42", "42"),
        # several adjacent boxes are one list; "or" joins two spellings of one answer
        ("So the values are $\\boxed{1}$, $\\boxed{4}$, and $\\boxed{-5}$.", "1, 4, -5"),
        ("\\boxed{(2,2)}, \\boxed{(6,2)}", "(2,2), (6,2)"),
        ("$d = \\boxed{15\\frac{39}{40}},$ or $\\boxed{\\frac{639}{40}}$ inches.", "\\frac{639}{40}"),
        ("The distance is $\\boxed{125\\textnormal{ miles}}.$", "125\\textnormal{ miles}"),
        # unboxed: the final sentence's last math expression, else its last number
        ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5"),
        ("Answer \\( 9 \\)", "9"),
        ("The length is $\\frac{1}{3} \\textbf{meters}$", "\\frac{1}{3} \\textbf{meters}"),
        ("We have $a=2$ and $b=3$. So the probability is 28 percent.", "28\\%"),
        ("An unclosed \\[ x &= 1 \\\\ so, putting this together,\n\\[\n764\n\\]", "764"),
        ("First $x=4$ and then we", "x=4"),
        ("no answer given", None),
    ],
)
def test_math(text: str, expected: str | None) -> None:
    assert extract_answer(text, "math") == expected


def test_final_boxed_ignores_other_commands() -> None:
    assert final_boxed("\\boxedsymbol and \\boxed{1}") == "1"
    assert final_boxed("plain text") is None


def test_synthetic_is_stripped_text() -> None:
    assert extract_answer("  579\n", "synthetic") == "579"
    assert extract_answer("a b", "synthetic") == "a b"
    assert extract_answer("   ", "synthetic") is None


def test_unknown_dataset_is_named() -> None:
    with pytest.raises(ValueError, match="aqua"):
        extract_answer("42", "aqua")


def test_gsm8k_test_split_final_answers(data_dir: Path) -> None:
    rows = _rows(data_dir / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    expected = [row["answer"].rsplit("#### ", 1)[1].strip().replace(",", "") for row in rows]
    assert [extract_answer(row["answer"], "gsm8k") for row in rows] == expected


def test_math500_boxed_answers_are_reproduced(data_dir: Path) -> None:
    rows = _rows(data_dir / "math" / "test.jsonl")
    assert len(rows) == 500
    assert [extract_answer(row["solution"], "math") for row in rows] == [row["answer"] for row in rows]
