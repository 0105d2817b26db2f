"""GSM8K: grade-school word problems whose solutions end in a ``#### n`` line."""

from __future__ import annotations

from typing import Any

from mathpe_jax.data.math_datasets import MathProblem, RowFormat
from mathpe_jax.data.tasks.dataset import DatasetTask

NAME = "gsm8k"


def gsm8k_answer(solution: str) -> str:
    """The text after the last ``#### `` with thousands separators removed (``1,450,000`` -> ``1450000``)."""
    _, marker, tail = solution.rpartition("#### ")
    if not marker:
        raise ValueError("solution has no '#### ' final-answer line")
    return tail.strip().replace(",", "")


def _problem(row: dict[str, Any], split: str, index: int) -> MathProblem:
    return MathProblem(f"{NAME}/{split}/{index}", row["question"], row["answer"], gsm8k_answer(row["answer"]))


def _check(row: dict[str, Any]) -> None:
    if "#### " not in row["answer"]:
        raise ValueError("field 'answer' has no '#### ' final-answer line")


class GSM8K(DatasetTask):
    name = NAME
    answer_style = NAME
    robustness = True
    instruction = "Solve the problem step by step. Write the final answer on its own last line as '#### <number>'."
    format = RowFormat(NAME, ("question", "answer"), _problem, f"openai/{NAME}", _check, {f"openai/{NAME}": "main"})
