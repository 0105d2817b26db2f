"""Accuracy per synthetic test length, pooled in and out of the training range; digit scores,
overlap with training and the operand-length grid."""

from __future__ import annotations

import pytest

from mathpe_jax.data.tasks import make_task
from mathpe_jax.eval.lengths import digit_report, first_difference, length_report, operand_grid
from mathpe_jax.grading.prediction import Completion


def test_length_report_pools_in_and_out_of_distribution() -> None:
    task = make_task({"name": "addition", "reverse": False, "train_lengths": (1, 2), "test_lengths": (3, 4)})

    def pred(length: int, ok: bool, exact: bool):
        (p,) = task.grade([
            Completion(
                problem_id=f"t/{length}", prompt="1+1=", gold="2", completion="2" if ok else "3", completion_tokens=2,
                ended=True, length=length, length_bucket=task.length_bucket(length),
            )
        ])
        return p if exact else type(p)(**{**p.to_json(), "correct": False})

    preds = [pred(1, True, True), pred(1, False, False), pred(2, True, False), pred(4, True, True)]
    report = length_report(preds, [1, 2, 3, 4], (1, 2))
    assert report["in_distribution"] == {"n": 3, "exact_match": 1 / 3, "symbolic_accuracy": 2 / 3}
    assert report["out_of_distribution"] == {"n": 1, "exact_match": 1.0, "symbolic_accuracy": 1.0}
    assert report["by_length"]["3"] == {"n": 0, "exact_match": None, "symbolic_accuracy": None}
    assert list(report["by_length"]) == ["1", "2", "3", "4"]


def _graded(task, gold: str, completion: str, length: int, ended: bool = True):
    (p,) = task.grade([
        Completion(problem_id=f"t/{length}", prompt="", gold=gold, completion=completion,
                   completion_tokens=len(completion) + ended, ended=ended, length=length,
                   length_bucket=task.length_bucket(length))
    ])
    return p


def test_first_difference_counts_from_the_first_written_character() -> None:
    assert first_difference("1234", "1284") == 2
    assert first_difference("12", "123") == 2  # a missing digit
    assert first_difference("1234", "123") == 3  # a surplus one
    assert first_difference("123", "123") == 3  # right digits that never ended
    assert first_difference("", "5") == 0


def test_digit_scores_per_length_align_as_written() -> None:
    task = make_task({"name": "reverse", "train_lengths": (1, 2), "test_lengths": (4,)})
    preds = [
        _graded(task, "1234", "1234", 4),  # right: 4/4, not in the histogram
        _graded(task, "1234", "1284", 4),  # 3/4, first wrong at 2
        _graded(task, "1234", "12", 4),  # 2/4 (two missing), first wrong at 2
        _graded(task, "1234", "9234", 4),  # 3/4, first wrong at 0
        _graded(task, "1234", "1234", 4, ended=False),  # 4/4 but never ended: wrong at 4
    ]
    assert digit_report(preds) == {
        "digit_accuracy": pytest.approx((1 + 0.75 + 0.5 + 0.75 + 1) / 5),
        "first_wrong_digit": {"0": 1, "2": 2, "4": 1},
    }
    report = length_report(preds, [1, 2, 4], task.train_lengths, {n: task.overlap(n) for n in (1, 2, 4)}, digits=True)
    four = report["by_length"]["4"]
    assert (four["n"], four["prompt_space"], four["possible_in_training"]) == (5, 10**4, False)
    assert four["first_wrong_digit"] == {"0": 1, "2": 2, "4": 1}
    assert report["by_length"]["1"] == {
        "n": 0, "exact_match": None, "symbolic_accuracy": None, "prompt_space": 10, "possible_in_training": True,
        "digit_accuracy": None, "first_wrong_digit": {},
    }


def test_operand_grid_groups_by_both_operand_lengths() -> None:
    task = make_task({"name": "addition", "reverse": False, "train_lengths": (1, 1), "test_lengths": (2,),
                      "unequal_operands": True})
    pairs = task.grid_pairs()
    examples = [e for a, b in pairs for e in task.grid_examples(a, b, 2)]
    preds = [_graded(task, e.answer, e.answer if e.operands == (1, 2) else "0", e.length) for e in examples]
    grid = operand_grid(preds, [e.operands for e in examples], pairs)
    assert {a: sorted(row) for a, row in grid.items()} == {"1": ["1", "2"], "2": ["1", "2"]}
    assert grid["1"]["2"] == {"n": 2, "exact_match": 1.0, "symbolic_accuracy": 1.0}
    assert grid["2"]["1"]["n"] == 2 and grid["2"]["1"]["exact_match"] == 0.0
    with pytest.raises(ValueError):
        operand_grid(preds, [e.operands for e in examples][:-1], pairs)
