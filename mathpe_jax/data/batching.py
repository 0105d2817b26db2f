"""Turning (prompt, answer) token lists into padded training batches with a loss mask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

# Sequence lengths are rounded up to this multiple so a run compiles few distinct shapes.
LENGTH_QUANTUM = 8


class Batch(NamedTuple):
    """Arrays ``[B, T]``. ``positions`` is -1 on padding; ``loss_mask`` is 1 on answer targets."""

    inputs: np.ndarray
    targets: np.ndarray
    positions: np.ndarray
    loss_mask: np.ndarray


def padded_length(n: int, quantum: int = LENGTH_QUANTUM) -> int:
    return -(-n // quantum) * quantum


def sft_batch(
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    *,
    eos_id: int,
    pad_id: int,
    seq_len: int | None = None,
) -> Batch:
    """Right-padded next-token batch: ``prompt answer [EOS]``, loss on answer and EOS only.

    Prompts come from ``prompts.encode_prompt``, with whatever BOS the tokenizer or run adds.

    ``seq_len`` defaults to the longest sequence rounded up to ``LENGTH_QUANTUM``; a sequence that
    does not fit raises with its index and length.
    """
    seqs, starts = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        seqs.append(list(prompt) + list(answer) + [eos_id])
        starts.append(len(prompt))
    longest = max(len(s) for s in seqs) - 1
    length = seq_len or padded_length(longest)
    if longest > length:
        worst = int(np.argmax([len(s) for s in seqs]))
        raise ValueError(f"example {worst} has {longest + 1} tokens, more than seq_len={length} + 1")
    batch = len(seqs)
    inputs = np.full((batch, length), pad_id, np.int32)
    targets = np.full((batch, length), pad_id, np.int32)
    positions = np.full((batch, length), -1, np.int32)
    loss_mask = np.zeros((batch, length), np.float32)
    for row, (seq, start) in enumerate(zip(seqs, starts)):
        n = len(seq) - 1
        inputs[row, :n] = seq[:-1]
        targets[row, :n] = seq[1:]
        positions[row, :n] = np.arange(n)
        loss_mask[row, start - 1 : n] = 1.0  # targets from the first answer token through EOS
    return Batch(inputs, targets, positions, loss_mask)


#: Position schemes of training batches (``train.positions``): ``sequential`` numbers each row's
#: tokens 0, 1, 2, ...; ``randomized`` (Ruoss et al., 2023) gives a row of ``n`` tokens a sorted
#: sample of ``n`` distinct positions from ``0..max_len - 1``, so positions that only long test
#: sequences reach sequentially are seen in training.
POSITION_SCHEMES = ("sequential", "randomized")


def randomize_positions(batch: Batch, max_len: int, rng: np.random.Generator) -> Batch:
    """``batch`` with each row's real positions replaced by a sorted random sample without
    replacement from ``range(max_len)`` (padding stays -1); the tokens keep their order, so
    attention's causal mask, which follows the sequence, is unchanged."""
    positions = np.full_like(batch.positions, -1)
    for row, real in enumerate(batch.positions >= 0):
        n = int(real.sum())
        if n > max_len:
            raise ValueError(f"row {row} has {n} tokens, more than the {max_len} positions (model.max_len) to draw from")
        positions[row, real] = np.sort(rng.choice(max_len, size=n, replace=False))
    return batch._replace(positions=positions)
