"""GSM8K robustness variants: deterministic, per problem, and compared on the problems they cover."""

from __future__ import annotations

import pytest

from mathpe_jax.data.tasks.gsm8k import GSM8K
from mathpe_jax.eval.robustness.report import VARIANTS, Variant, make_variants, robustness_report
from mathpe_jax.grading.prediction import Prediction


@pytest.fixture(scope="module")
def problems(data_dir):
    return GSM8K({"source": str(data_dir)}).problems("test", limit=8)


def test_variants_are_deterministic_and_depend_on_the_seed(problems) -> None:
    first, again, other = make_variants(problems, 0), make_variants(problems, 0), make_variants(problems, 1)
    assert first == again and first != other
    assert set(first) == set(VARIANTS)
    assert len(first["irrelevant_sentence"]) == len(first["rephrased"]) == len(problems)
    assert 0 < len(first["perturbed_numbers"]) <= len(problems)


def test_a_problem_gets_the_same_variant_whatever_else_is_evaluated(problems) -> None:
    whole, part = make_variants(problems, 0), make_variants(problems[3:5], 0)
    for name in VARIANTS:
        shifted = [Variant(v.index - 3, v.question, v.gold) for v in whole[name] if 3 <= v.index < 5]
        assert part[name] == shifted


def test_variant_questions_change_and_answers_follow(problems) -> None:
    variants = make_variants(problems, 0)
    for v in variants["perturbed_numbers"]:
        assert v.question != problems[v.index].question
    assert any(v.gold != problems[v.index].answer for v in variants["perturbed_numbers"])
    for name in ("irrelevant_sentence", "rephrased"):
        for v in variants[name]:
            assert v.question != problems[v.index].question and v.gold == problems[v.index].answer


def _pred(symbolic: bool, exact: bool | None = None) -> Prediction:
    return Prediction(
        id="x", prompt="", completion="", extracted=None, gold="1", correct=symbolic if exact is None else exact,
        symbolic_correct=symbolic, grade_status="correct" if symbolic else "no answer",
        error_class="correct" if symbolic else "no_answer", length=1,
        length_bucket="short", truncated=False, completion_tokens=1, n_steps=1, n_equations=0,
        fraction_equations_correct=None, first_wrong_step=None,
    )


def test_report_compares_each_variant_with_the_originals_it_covers() -> None:
    original = [_pred(True), _pred(False), _pred(True), _pred(True, exact=False)]
    variants = {
        "perturbed_numbers": [Variant(0, "q", "2"), Variant(1, "q", "3")],
        "irrelevant_sentence": [Variant(i, "q", "1") for i in range(4)],
        "rephrased": [],
    }
    graded = {
        "perturbed_numbers": [_pred(False), _pred(False)],
        "irrelevant_sentence": [_pred(True), _pred(True), _pred(False), _pred(False)],
        "rephrased": [],
    }
    report = robustness_report(original, variants, graded)
    assert report["perturbed_numbers"] == {
        "n": 2,
        "skipped": 2,
        "original": {"exact_match": 0.5, "symbolic_accuracy": 0.5},
        "variant": {"exact_match": 0.0, "symbolic_accuracy": 0.0},
        "accuracy_change": -0.5,
    }
    assert report["irrelevant_sentence"]["original"] == {"exact_match": 0.5, "symbolic_accuracy": 0.75}
    assert report["irrelevant_sentence"]["accuracy_change"] == pytest.approx(-0.25)
    assert report["rephrased"] == {
        "n": 0,
        "skipped": 4,
        "original": {"exact_match": None, "symbolic_accuracy": None},
        "variant": {"exact_match": None, "symbolic_accuracy": None},
        "accuracy_change": None,
    }
