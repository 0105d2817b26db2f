"""What every benchmark feeds a model and how it times it, so that figures compare like with like.

Only the standard library and numpy: a peer worker measuring transformers imports this module and
must not pay for (or count the memory of) JAX.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

# greedy_generate rounds prompt length and budget up to this multiple; other sizes would make us
# decode more tokens than are counted.
LENGTH_QUANTUM = 8


def random_tokens(vocab: int, batch: int, length: int, seed: int) -> np.ndarray:
    """The token ids ``[batch, length]`` every framework is fed (ids 0-2 left out: pad/BOS/EOS)."""
    return np.random.default_rng(seed).integers(3, vocab, size=(batch, length), dtype=np.int32)


def train_arrays(vocab: int, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets ``[batch, seq]`` of a training step: random ids, loss on every token."""
    ids = random_tokens(vocab, spec["batch"], spec["seq"] + 1, spec["seed"])
    return ids[:, :-1], ids[:, 1:]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Runs ``fn`` once untimed (the warm-up: compilation, lazy initialisation), then ``repeats``
    times; returns the warm-up seconds, the timings and the last result."""
    start = time.perf_counter()
    fn()
    warmup = time.perf_counter() - start
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return warmup, seconds, result
