"""The task interface: what a run trains on, how it prompts, and how it grades a completion.

A task is a plug-in, like a positional encoding: one file per synthetic task or dataset, one line
in the registry (``data/tasks/__init__.py``), and nothing else learns its name. The training
pipeline, the evaluation suite and ``solve`` speak only to this interface:

* ``check_config``: refuse a ``config.task`` block that cannot run, in one line naming the key;
* ``prompt`` / ``target``: the text shown to the model and the text it should write back;
* ``grade``: completions -> the ``Prediction``s written to ``predictions.jsonl`` (all at once, so a
  dataset task can compare answers in parallel);
* ``length_bucket``: the group a problem's length falls in, for accuracy by length.

Two kinds exist, and each supplies its examples its own way: ``synthetic`` tasks generate them from
the seed at a chosen length (``train_examples(batch, step)``, ``test_examples(length, count)``; see
``tasks/synthetic.py``); ``dataset`` tasks read problems from files or the Hub
(``problems(split, limit)``; see ``tasks/dataset.py``). ``prompts.encode_prompt`` turns a prompt's
text into ids, with the tokenizer's own special tokens or the task's BOS (``bos``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mathpe_jax.grading.prediction import Completion, Prediction


def config_error(key: str, value: Any, why: str) -> ValueError:
    """The one-line error of a bad ``config.task`` value."""
    return ValueError(f"config.task.{key}={value!r}: {why}")


class Task(abc.ABC):
    """Base class of every task; subclasses set the class attributes and the methods they need."""

    #: The config name (``config.task.name``).
    name: ClassVar[str]
    #: ``"synthetic"`` (generated at a chosen length) or ``"dataset"`` (read from files or the Hub).
    kind: ClassVar[str]
    #: How a final answer is read from a completion (``extraction.extract_answer``'s ``dataset``).
    answer_style: ClassVar[str]
    #: Completions write intermediate steps, so step statistics mean something.
    step_answers: ClassVar[bool] = False

    def __init__(self, task_cfg: Mapping[str, Any], seed: int = 0):
        self.cfg = task_cfg
        self.seed = seed
        self.bos = bool(task_cfg.get("bos", True))
        self.template = "none"  # prompt template (text datasets choose theirs; see data/prompts.py)

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any], model_max_len: int | None) -> None:
        """Raises ``ValueError("config.task.X=V: why")`` for the first value this task cannot run
        with; ``model_max_len`` is the model's position count (None: the checkpoint decides)."""

    @abc.abstractmethod
    def prompt(self, question: str, template: str | None = None) -> str:
        """The text the model is given for ``question`` (``template`` overrides the task's own)."""

    @abc.abstractmethod
    def grade(self, completions: Sequence[Completion]) -> list[Prediction]:
        """The graded ``completions``, in order (each ``prompt`` is the text ``self.prompt`` gave)."""

    @abc.abstractmethod
    def length_bucket(self, length: int, edges: tuple[float, float] | None = None) -> str:
        """The group of a problem of ``length`` (``edges``: the test set's tertiles, for datasets)."""
