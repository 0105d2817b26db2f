"""Multiplication: ``a*b=`` -> ``a*b`` with a ``length``-digit ``a`` and a one- to ``length``-digit ``b``
(or, with ``task.unequal_operands``, each with its own length in training; see ``OperandTask``)."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import OperandTask, numbers_with


class Multiplication(OperandTask):
    name = "multiplication"
    symbol = "*"

    @staticmethod
    def apply(a: int, b: int) -> int:
        return a * b

    @staticmethod
    def answer_digits(width: int) -> int:
        """A product has at most as many digits as its two factors together."""
        return 2 * width

    @classmethod
    def operand_lengths(cls, rng: np.random.Generator, length: int) -> tuple[int, int]:
        return length, int(rng.integers(1, length + 1))

    def prompt_space(self, length: int) -> int:
        """A ``length``-digit ``a`` times any ``b`` of one to ``length`` digits (10**length of them)."""
        return numbers_with(length) * 10**length
