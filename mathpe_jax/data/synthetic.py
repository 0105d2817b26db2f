"""Synthetic math tasks with a training length range and out-of-distribution test lengths.

Every task maps a length (operand digits, string length, or operand count) and a NumPy generator
to one ``Example``. Everything is deterministic given a seed: the training stream draws batch
``step`` from ``seed`` and ``step`` alone, so a resumed run sees exactly the batches it would have
seen without the interruption, with no iterator state to checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Example:
    prompt: str
    answer: str
    length: int  # the task's length measure (operand digits, characters, operands)


def _number(rng: np.random.Generator, digits: int) -> int:
    """A uniformly drawn integer with exactly ``digits`` digits (0 allowed for one digit)."""
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return int(rng.integers(low, 10**digits))


def _write(n: int, reverse: bool) -> str:
    return str(n)[::-1] if reverse else str(n)


def addition(rng: np.random.Generator, length: int, reverse: bool = True) -> Example:
    """``a+b=`` -> ``a+b``; both operands have ``length`` digits. ``reverse`` writes every number
    least-significant digit first, the order in which carries are produced."""
    a, b = _number(rng, length), _number(rng, length)
    return Example(f"{_write(a, reverse)}+{_write(b, reverse)}=", _write(a + b, reverse), length)


def multiplication(rng: np.random.Generator, length: int, reverse: bool = True) -> Example:
    """``a*b=`` -> ``a*b`` with an ``length``-digit ``a`` and a one- to ``length``-digit ``b``."""
    a = _number(rng, length)
    b = _number(rng, int(rng.integers(1, length + 1)))
    return Example(f"{_write(a, reverse)}*{_write(b, reverse)}=", _write(a * b, reverse), length)


def copy(rng: np.random.Generator, length: int, reverse: bool = False) -> Example:
    """``s|`` -> ``s`` for a random digit string ``s`` of ``length`` characters (``reverse``: s reversed)."""
    s = "".join(str(d) for d in rng.integers(0, 10, size=length))
    return Example(f"{s}|", s[::-1] if reverse else s, length)


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


def expression(rng: np.random.Generator, length: int, reverse: bool = False) -> Example:
    """``3+4*2-1=`` -> ``3+8-1=11-1=10``: ``length`` one-digit operands, one operation per step.

    The answer is the whole chain of rewritten expressions, so exact match checks every step.
    """
    del reverse
    terms = [int(d) for d in rng.integers(0, 10, size=length)]
    ops = [str(o) for o in rng.choice(["+", "-", "*"], size=length - 1)]
    prompt = _render(terms, ops) + "="
    steps = []
    while ops:
        _reduce_once(terms, ops)
        steps.append(_render(terms, ops))
    return Example(prompt, "=".join(steps) if steps else str(terms[0]), length)


TASKS: dict[str, Callable[..., Example]] = {
    "addition": addition,
    "multiplication": multiplication,
    "copy": copy,
    "expression": expression,
}


def task_fn(name: str) -> Callable[..., Example]:
    if name not in TASKS:
        raise ValueError(f"unknown task task.name={name!r}; known: {sorted(TASKS)}")
    return TASKS[name]


def sample_examples(
    name: str, lengths: Sequence[int], count: int, seed: int | Sequence[int], reverse: bool
) -> list[Example]:
    """``count`` examples of task ``name``, lengths drawn uniformly from ``lengths``."""
    fn = task_fn(name)
    rng = np.random.default_rng(seed)
    choices = rng.choice(np.asarray(lengths), size=count)
    return [fn(rng, int(n), reverse=reverse) for n in choices]


# Stream ids keep training batches and test sets disjoint draws from the same seed.
TRAIN_STREAM, EVAL_STREAM = 0, 1


def train_examples(name: str, lengths: Sequence[int], batch: int, seed: int, step: int, reverse: bool) -> list[Example]:
    """Training batch ``step``: a function of (seed, step) only."""
    return sample_examples(name, lengths, batch, (seed, TRAIN_STREAM, step), reverse)


def eval_examples(name: str, length: int, count: int, seed: int, reverse: bool) -> list[Example]:
    """The fixed test set of one length."""
    return sample_examples(name, [length], count, (seed, EVAL_STREAM, length), reverse)
