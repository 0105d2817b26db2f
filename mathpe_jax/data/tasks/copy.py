"""Copy: ``s|`` -> ``s`` for a random digit string ``s`` of ``length`` characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mathpe_jax.data.tasks.base import config_error
from mathpe_jax.data.tasks.synthetic import Example, SyntheticTask


def digit_string(rng: np.random.Generator, length: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=length))


class Copy(SyntheticTask):
    """The answer states no number and makes no arithmetic claim, so its symbolic verdict is the
    exact one and it has no steps. Reversing the string is its own task (``reverse``), so that a
    run's task name alone says what it learned."""

    name = "copy"
    arithmetic = False

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any], model_max_len: int | None) -> None:
        """``task.reverse`` once turned copying into reversing; refusing it keeps an old config
        from silently training the other task."""
        reverse = task_cfg.get("reverse")
        if reverse is not None:
            raise config_error("reverse", reverse, f"{cls.name} takes no digit order; "
                               "for the reversed string use task.name=reverse (and leave task.reverse unset)")
        super().check_config(task_cfg, model_max_len)

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        del reverse
        s = digit_string(rng, length)
        return Example(f"{s}|", s, length)

    @staticmethod
    def longest(length: int) -> int:
        return 2 * length + 1

    def prompt_space(self, length: int) -> int:
        return 10**length

    def final_answer(self, answer: str) -> str | None:
        return None
