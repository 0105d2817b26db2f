"""Copy: ``s|`` -> ``s`` for a random digit string ``s`` of ``length`` characters."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import Example, SyntheticTask


class Copy(SyntheticTask):
    """``reverse`` asks for ``s`` reversed. The answer states no number and makes no arithmetic
    claim, so its symbolic verdict is the exact one and it has no steps."""

    name = "copy"
    arithmetic = False

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        s = "".join(str(d) for d in rng.integers(0, 10, size=length))
        return Example(f"{s}|", s[::-1] if reverse else s, length)

    @staticmethod
    def longest(length: int) -> int:
        return 2 * length + 1

    def final_answer(self, answer: str) -> str | None:
        return None
