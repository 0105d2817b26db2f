"""Text datasets of math word problems: problems read from files or the Hub, prompted by a template.

A dataset task supplies its record format (``RowFormat``), the instruction that asks for its answer
notation, and its answer style; loading, prompting, grading and length buckets are shared here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mathpe_jax.data.math_datasets import MathProblem, RowFormat, load_problems
from mathpe_jax.data.prompts import TEMPLATES, format_prompt, format_target
from mathpe_jax.data.tasks.base import Task, config_error
from mathpe_jax.data.tasks.buckets import length_bucket
from mathpe_jax.grading.prediction import Completion, Prediction, grade_texts


class DatasetTask(Task):
    kind = "dataset"
    step_answers = True  # worked solutions write equations
    #: How the dataset's records become problems.
    format: ClassVar[RowFormat]
    #: What the ``cot`` and ``chat`` templates ask for: the notation the answer extractor reads.
    instruction: ClassVar[str]
    #: The evaluation adds perturbed variants of each problem (numbers, distractors, rephrasing).
    robustness: ClassVar[bool] = False

    def __init__(self, task_cfg: Mapping[str, Any], seed: int = 0):
        super().__init__(task_cfg, seed)
        self.template: str = task_cfg.get("template", "cot")
        self.source: str | None = task_cfg.get("source") or None

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any], model_max_len: int | None) -> None:
        template = task_cfg.get("template", "cot")
        if template not in TEMPLATES:
            raise config_error("template", template, f"must be one of {sorted(TEMPLATES)}")
        for key, low in (("max_len", 1), ("train_limit", 0), ("length_quantum", 1)):
            value = task_cfg.get(key, low)
            if not (isinstance(value, int) and value >= low):
                raise config_error(key, value, f"must be an integer >= {low}")
        if model_max_len is not None and task_cfg.get("max_len", 1) > model_max_len:
            raise config_error("max_len", task_cfg["max_len"],
                               f"training sequences this long do not fit model.max_len={model_max_len}")

    def problems(self, split: str, limit: int | None = None) -> list[MathProblem]:
        """The problems of ``split`` from ``task.source`` (default: the shared data directory)."""
        return load_problems(self.format, split, source=self.source, limit=limit or None)

    def prompt(self, question: str, template: str | None = None) -> str:
        return format_prompt(question, template or self.template, self.instruction)

    def target(self, problem: MathProblem, template: str | None = None) -> str:
        return format_target(problem, template or self.template)

    def length_bucket(self, length: int, edges: tuple[float, float] | None = None) -> str:
        """``short`` up to the first edge (the test set's question-length tertiles), ``long`` above
        the second, else ``medium``."""
        if edges is None:
            raise ValueError(f"{self.name}: a length bucket needs the test set's tertile edges")
        return length_bucket(length, edges)

    def grade(self, completions: Sequence[Completion]) -> list[Prediction]:
        return grade_texts(completions, self.answer_style)
