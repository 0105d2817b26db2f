"""Tasks and the registry that maps a config name to a class.

Adding a task is one new file plus one line in ``TASKS``; no other file changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mathpe_jax.data.tasks.addition import Addition
from mathpe_jax.data.tasks.base import Task
from mathpe_jax.data.tasks.copy import Copy
from mathpe_jax.data.tasks.expression import Expression
from mathpe_jax.data.tasks.gsm8k import GSM8K
from mathpe_jax.data.tasks.math import MATH
from mathpe_jax.data.tasks.multiplication import Multiplication
from mathpe_jax.data.tasks.reverse import Reverse

TASKS: dict[str, type[Task]] = {
    Addition.name: Addition,
    Multiplication.name: Multiplication,
    Copy.name: Copy,
    Reverse.name: Reverse,
    Expression.name: Expression,
    GSM8K.name: GSM8K,
    MATH.name: MATH,
}


def task_class(name: str) -> type[Task]:
    """The class registered under ``name``; a one-line error naming the key for an unknown name."""
    if name not in TASKS:
        raise ValueError(f"config.task.name={name!r}: unknown task; known: {sorted(TASKS)}")
    return TASKS[name]


def make_task(task_cfg: Mapping[str, Any], seed: int = 0) -> Task:
    """The task a ``config.task`` block names, with its settings; ``seed`` fixes its examples."""
    return task_class(task_cfg["name"])(task_cfg, seed)


__all__ = ["TASKS", "Task", "make_task", "task_class"]
