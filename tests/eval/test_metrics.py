"""Per-problem grading of text completions and the metrics pooled from hand-written verdicts."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mathpe_jax.eval.lengths import accuracy_by
from mathpe_jax.eval.metrics import accuracy, summarize, write_predictions
from mathpe_jax.grading.prediction import Completion, Prediction, grade_texts

GOLD = "18"


def _grade(completion: str, truncated: bool = False):
    (prediction,) = grade_texts(
        [
            Completion(
                problem_id="gsm8k/test/0",
                prompt="Question: ...",
                gold=GOLD,
                completion=completion,
                completion_tokens=len(completion),
                ended=not truncated,
                length=40,
                length_bucket="short",
            )
        ],
        "gsm8k",
    )
    return prediction


def test_a_right_worked_solution_is_correct_with_every_step_checked() -> None:
    p = _grade("16 - 3 - 4 = 9 eggs. 9 * 2 = 18 dollars.\n#### 18")
    assert (p.extracted, p.correct, p.symbolic_correct, p.error_class) == ("18", True, True, "correct")
    assert (p.n_steps, p.n_equations, p.fraction_equations_correct, p.first_wrong_step) == (3, 2, 1.0, None)


def test_a_wrong_sum_is_a_calculation_error_at_its_step() -> None:
    p = _grade("16 - 3 - 4 = 9 eggs. 9 * 2 = 20 dollars.\n#### 20")
    assert (p.symbolic_correct, p.error_class) == (False, "calculation_error")
    assert (p.fraction_equations_correct, p.first_wrong_step) == (0.5, 1)


def test_right_sums_towards_a_wrong_answer_are_a_reasoning_error() -> None:
    p = _grade("16 - 3 - 4 = 9 eggs. 9 * 3 = 27 dollars.\n#### 27")
    assert (p.error_class, p.first_wrong_step, p.fraction_equations_correct) == ("reasoning_error", None, 1.0)


def test_no_number_is_no_answer_and_a_cut_off_completion_is_truncated() -> None:
    assert _grade("I do not know").error_class == "no_answer"
    cut = _grade("16 - 3 = 13 and", truncated=True)
    assert (cut.extracted, cut.error_class, cut.truncated) == ("13", "truncated", True)


def test_symbolic_but_not_exact() -> None:
    p = _grade("#### 18.0")
    assert (p.correct, p.symbolic_correct, p.error_class) == (False, True, "correct")


def _prediction(**fields) -> Prediction:
    base = {
        "id": "x", "prompt": "", "completion": "", "extracted": None, "gold": "1", "correct": False,
        "symbolic_correct": False, "grade_status": "wrong", "error_class": "no_answer", "length": 1,
        "length_bucket": "short",
        "truncated": False, "completion_tokens": 1, "n_steps": 1, "n_equations": 0,
        "fraction_equations_correct": None, "first_wrong_step": None,
    }
    return Prediction(**(base | fields))


HAND = [
    _prediction(correct=True, symbolic_correct=True, error_class="correct", n_steps=4, n_equations=2,
                fraction_equations_correct=1.0, length_bucket="short"),
    _prediction(symbolic_correct=True, error_class="correct", n_steps=2, length_bucket="short"),
    _prediction(error_class="calculation_error", n_steps=3, n_equations=4, fraction_equations_correct=0.25,
                first_wrong_step=0, length_bucket="long"),
    _prediction(error_class="truncated", truncated=True, n_steps=3, length_bucket="long"),
    _prediction(grade_status="timed out", error_class="ungraded", n_steps=0, length_bucket="medium"),
]


def test_summary_on_hand_computed_predictions() -> None:
    s = summarize(HAND)
    assert (s["n"], s["exact_match"], s["symbolic_accuracy"], s["truncated_rate"]) == (5, 0.2, 0.4, 0.2)
    assert s["error_classes"] == {
        "correct": 2, "ungraded": 1, "no_answer": 0, "truncated": 1, "calculation_error": 1, "reasoning_error": 0,
    }
    assert sum(s["error_classes"].values()) == s["n"]
    assert s["grading"] == {"timed_out": 1, "failed": 0}
    assert s["reasoning"] == {
        "mean_steps": 2.4,  # (4 + 2 + 3 + 3 + 0) / 5
        "mean_equations": 1.2,  # (2 + 0 + 4 + 0 + 0) / 5
        "n_with_equations": 2,
        "mean_fraction_correct": pytest.approx(0.625),  # (1 + 0.25) / 2
        "share_with_wrong_step": 0.2,
    }
    assert summarize(HAND, reasoning=False)["reasoning"] is None


def test_accuracy_per_bucket_reports_empty_buckets_as_null() -> None:
    assert accuracy_by(HAND) == {
        "short": {"n": 2, "exact_match": 0.5, "symbolic_accuracy": 1.0},
        "medium": {"n": 1, "exact_match": 0.0, "symbolic_accuracy": 0.0},
        "long": {"n": 2, "exact_match": 0.0, "symbolic_accuracy": 0.0},
    }
    assert accuracy([]) == {"n": 0, "exact_match": None, "symbolic_accuracy": None}
    assert accuracy_by(HAND[:2])["medium"] == {"n": 0, "exact_match": None, "symbolic_accuracy": None}


def test_predictions_file_has_one_json_object_per_line(tmp_path) -> None:
    path = tmp_path / "predictions.jsonl"
    write_predictions(path, HAND)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [dataclasses.asdict(p) for p in HAND]
