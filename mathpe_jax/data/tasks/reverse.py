"""Reverse: ``s|`` -> ``s`` read backwards, for a random digit string ``s`` of ``length`` characters."""

from __future__ import annotations

import numpy as np

from mathpe_jax.data.tasks.copy import Copy, digit_string
from mathpe_jax.data.tasks.synthetic import Example


class Reverse(Copy):
    """Copy's prompt, answered last character first: every answer token attends to a position that
    moves away as the answer grows, where copy's moves along with it."""

    name = "reverse"

    @staticmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        del reverse
        s = digit_string(rng, length)
        return Example(f"{s}|", s[::-1], length)
