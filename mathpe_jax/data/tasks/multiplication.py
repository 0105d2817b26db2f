"""Multiplication: ``a*b=`` -> ``a*b`` with a ``length``-digit ``a`` and a one- to ``length``-digit ``b``."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import Example, SyntheticTask, number, write


class Multiplication(SyntheticTask):
    name = "multiplication"
    reversible = True

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        a = number(rng, length)
        b = number(rng, int(rng.integers(1, length + 1)))
        return Example(f"{write(a, reverse)}*{write(b, reverse)}=", write(a * b, reverse), length)

    @staticmethod
    def longest(length: int) -> int:
        return (2 * length + 2) + 2 * length
