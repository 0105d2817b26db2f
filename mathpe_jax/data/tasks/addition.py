"""Addition: ``a+b=`` -> ``a+b``, both operands with ``length`` digits (or, with
``task.unequal_operands``, each with its own length in training; see ``OperandTask``)."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import OperandTask, numbers_with


class Addition(OperandTask):
    """``reverse`` writes every number least-significant digit first, the order in which carries
    are produced."""

    name = "addition"
    symbol = "+"

    @staticmethod
    def apply(a: int, b: int) -> int:
        return a + b

    @staticmethod
    def answer_digits(width: int) -> int:
        """One more than the operands: the final carry."""
        return width + 1

    @classmethod
    def operand_lengths(cls, rng: np.random.Generator, length: int) -> tuple[int, int]:
        del rng
        return length, length

    def prompt_space(self, length: int) -> int:
        return numbers_with(length) ** 2
