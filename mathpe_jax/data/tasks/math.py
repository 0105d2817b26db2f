"""MATH: competition problems with LaTeX solutions holding ``\\boxed{...}``, with subject and level."""

from __future__ import annotations

from typing import Any

from mathpe_jax.data.math_datasets import MathProblem, RowFormat
from mathpe_jax.data.tasks.dataset import DatasetTask


def _problem(row: dict[str, Any], split: str, index: int) -> MathProblem:
    del split, index  # MATH carries its own id: the problem's path in the original release
    meta = {key: row[key] for key in ("subject", "level") if key in row}
    return MathProblem(row["unique_id"], row["problem"], row["solution"], row["answer"], meta)


class MATH(DatasetTask):
    name = "math"
    answer_style = "math"
    instruction = "Solve the problem step by step. Put the final answer in \\boxed{}."
    format = RowFormat(name, ("problem", "solution", "answer", "unique_id"), _problem, "HuggingFaceH4/MATH-500")
