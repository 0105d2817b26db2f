"""Number perturbation with replayed annotations, distractors and rephrasing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mathpe_jax.eval.robustness.perturb import (
    PerturbedProblem,
    add_irrelevant_sentence,
    perturb_numbers,
    rephrase,
)
from mathpe_jax.grading.extraction import extract_answer
from mathpe_jax.grading.steps import check_equations

PENS_Q = (
    "Timothy has three times the number of pens that George owns. Sarah has half as many pens as Timothy. "
    "If George has 18 pens, how many pens does Sarah have?"
)
PENS_A = (
    "Timothy has 18 * 3 = <<18*3=54>>54 pens.\nThis means that Sarah has 54 /2 = <<54/2=27>>27 pens.\n#### 27"
)

HOUSE_Q = (
    "Herb paid $76,000 for the house. If Juan's house is 30% less expensive than Herb's, "
    "calculate the value of the two houses combined."
)
HOUSE_A = (
    "Juan's house is 30/100*$76000= $<<30/100*76000=22800>>22800 less expensive.\n"
    "Juan's house is worth $76000-$22800 = $<<76000-22800=53200>>53200\n"
    "The combined total value is $76000+$53200 = $<<76000+53200=129200>>129200\n"
    "#### 129200"
)


def test_pens_problem_is_replayed_exactly() -> None:
    result = perturb_numbers(PENS_Q, PENS_A, random.Random(0))
    assert isinstance(result, PerturbedProblem)
    (george,) = [int(w) for w in result.question.replace("?", " ").split() if w.isdigit()]
    assert george != 18 and george >= 10
    assert result.answer == str(george * 3 // 2)
    assert f"{george} * 3 = <<{george}*3={george * 3}>>{george * 3} pens" in result.solution
    assert result.solution.endswith(f"#### {result.answer}")
    assert "three times" in result.question and "half" in result.question


def test_percent_and_thousands_are_perturbed_consistently() -> None:
    result = perturb_numbers(HOUSE_Q, HOUSE_A, random.Random(3))
    assert result is not None
    price = int(result.question.split("$")[1].split(" ")[0].replace(",", ""))
    percent = int(result.question.split("%")[0].split()[-1])
    assert "," in result.question.split("$")[1].split(" ")[0]  # "$76,000" style kept
    expected = price + price - price * percent // 100
    assert (price, percent) != (76000, 30)
    assert result.answer == str(expected)
    assert check_equations(result.solution).first_wrong_step is None


def test_deterministic_given_seed() -> None:
    assert perturb_numbers(PENS_Q, PENS_A, random.Random(7)) == perturb_numbers(
        PENS_Q, PENS_A, random.Random(7)
    )


@pytest.mark.parametrize(
    ("question", "solution"),
    [
        # no annotations to replay
        ("Tom has 12 apples and eats 3. How many are left?", "12 - 3 = 9\n#### 9"),
        # the answer is computed outside the annotations
        ("Tom has 12 apples and eats 3. How many are left?", "He has 12-3 = 9 left, so <<9*1=9>>9\n#### 9"),
        # the visible equation disagrees with its annotation
        ("Simon is 15 years away from 30.", "Simon is 30-15 = <<15+15=30>>30\n#### 30"),
        # a copied number, no computation
        ("He needs to remove 15 toys.", "He removes <<15=15>>15 toys\n#### 15"),
        # 2 is both a question number and "half"
        (
            "A robe takes 2 bolts of blue fiber and half that much white fiber.",
            "<<2/2=1>>1 and 2+1=<<2+1=3>>3\n#### 3",
        ),
        # only single-digit numbers, which may fix the solution's shape
        ("He makes a 4 level cake with 3 eggs per level.", "4*3=<<4*3=12>>12\n#### 12"),
        # no final answer line
        ("Tom has 12 apples and buys 13.", "12+13=<<12+13=25>>25"),
    ],
)
def test_unsafe_problems_are_refused(question: str, solution: str) -> None:
    assert perturb_numbers(question, solution, random.Random(0)) is None


def test_gsm8k_perturbations_are_self_consistent(data_dir: Path) -> None:
    with (data_dir / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][:400]
    perturbed = [perturb_numbers(r["question"], r["answer"], random.Random(i)) for i, r in enumerate(rows)]
    kept = [(r, p) for r, p in zip(rows, perturbed) if p is not None]
    assert len(kept) >= 60
    for row, p in kept:
        assert p.question != row["question"]
        assert extract_answer(p.solution, "gsm8k") == p.answer
        assert check_equations(p.solution).first_wrong_step is None


def test_add_irrelevant_sentence() -> None:
    out = add_irrelevant_sentence(PENS_Q, random.Random(1))
    assert out.endswith("If George has 18 pens, how many pens does Sarah have?")
    assert out.startswith("Timothy has three times")
    assert len(out) > len(PENS_Q)
    extra = out.replace(PENS_Q.rsplit(". ", 1)[0], "").replace(PENS_Q.rsplit(". ", 1)[1], "")
    assert any(ch.isdigit() for ch in extra)
    assert add_irrelevant_sentence(PENS_Q, random.Random(1)) == out
    assert add_irrelevant_sentence("How many legs do 3 cats have?", random.Random(0)).endswith(
        "How many legs do 3 cats have?"
    )


def test_rephrase_templates() -> None:
    question = "Tom has 12 apples and eats 3. How many apples are left?"
    outputs = {rephrase(question, random.Random(seed)) for seed in range(40)}
    assert "Tom has 12 apples and eats 3. What number of apples are left?" in outputs
    assert "How many apples are left? Use the following information. Tom has 12 apples and eats 3." in outputs
    assert f"Solve the following problem. {question}" in outputs
    assert all("12" in out and "3" in out for out in outputs)
    assert rephrase("How much does it cost?", random.Random(0)) in {
        "What amount does it cost?",
        "Solve the following problem. How much does it cost?",
    }
    assert rephrase(question, random.Random(5)) == rephrase(question, random.Random(5))
