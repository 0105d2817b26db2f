"""Accuracy per synthetic test length, pooled in and out of the training range."""

from __future__ import annotations

from mathpe_jax.data.tasks import make_task
from mathpe_jax.eval.lengths import length_report
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
