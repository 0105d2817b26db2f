"""Expression: ``3+4*2-1=`` -> ``3+8-1=11-1=10``, ``length`` one-digit operands, one operation per step.

The answer is the whole chain of rewritten expressions, so exact match checks every step.
"""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.synthetic import Example, SyntheticTask


def _reduce_once(terms: list[int], ops: list[str]) -> None:
    """Applies the first ``*`` if any, else the leftmost ``+``/``-`` (standard precedence)."""
    i = ops.index("*") if "*" in ops else 0
    a, b, op = terms[i], terms[i + 1], ops[i]
    terms[i : i + 2] = [a * b if op == "*" else a + b if op == "+" else a - b]
    del ops[i]


def _render(terms: list[int], ops: list[str]) -> str:
    out = str(terms[0])
    for op, t in zip(ops, terms[1:]):
        out += f"{op}{t}"
    return out


class Expression(SyntheticTask):
    name = "expression"
    step_answers = True
    digit_answers = False  # a chain of rewrites, not one digit string

    def prompt_space(self, length: int) -> int:
        """``length`` one-digit operands and ``length - 1`` operators out of three."""
        return 10**length * 3 ** (length - 1)

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        del reverse
        terms = [int(d) for d in rng.integers(0, 10, size=length)]
        ops = [str(o) for o in rng.choice(["+", "-", "*"], size=length - 1)]
        prompt = _render(terms, ops) + "="
        steps = []
        while ops:
            _reduce_once(terms, ops)
            steps.append(_render(terms, ops))
        return Example(prompt, "=".join(steps) if steps else str(terms[0]), length)

    @staticmethod
    def longest(length: int) -> int:
        """No rewrite is longer than the expression it rewrites (a product of ``m`` one-digit
        factors has at most ``m`` digits; a sum or difference at most one more digit, or a sign,
        than its longer operand), so each of the ``length - 1`` steps fits in ``2 * length``."""
        return 2 * length + max(1, (length - 1) * 2 * length)

    def final_answer(self, answer: str) -> str | None:
        return answer.split("=")[-1].strip()
