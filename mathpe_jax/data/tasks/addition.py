"""Addition: ``a+b=`` -> ``a+b``, both operands with ``length`` digits."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import Example, SyntheticTask, number, write


class Addition(SyntheticTask):
    """``reverse`` writes every number least-significant digit first, the order in which carries
    are produced."""

    name = "addition"
    reversible = True

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        a, b = number(rng, length), number(rng, length)
        return Example(f"{write(a, reverse)}+{write(b, reverse)}=", write(a + b, reverse), length)

    @staticmethod
    def longest(length: int) -> int:
        return (2 * length + 2) + (length + 1)
