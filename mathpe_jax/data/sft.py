"""Supervised fine-tuning batches from math problems: loss on the solution, little padding.

Problems are tokenized once. Examples longer than ``max_len`` are dropped, never cut: a truncated
solution teaches the model to stop before its final answer. Batch ``step`` is a pure function of
(seed, step), like the synthetic tasks', so a resumed run needs no iterator state. Within an epoch,
examples are bucketed by length, which keeps padding (compute spent on nothing) small.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from absl import logging

from mathpe_jax.data.batching import Batch, padded_length, sft_batch
from mathpe_jax.data.math_datasets import MathProblem
from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.data.tasks.dataset import DatasetTask
from mathpe_jax.data.tokenizer import Tokenizer


@dataclasses.dataclass(frozen=True)
class SFTExample:
    """``prompt_ids`` are ``encode_prompt``'s (BOS included where the tokenizer or run adds one):
    exactly what the decoder is given at evaluation. EOS is appended at batching time."""

    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    id: str

    @property
    def length(self) -> int:
        """Input positions the example fills: prompt, target and EOS, less the one shifted out."""
        return len(self.prompt_ids) + len(self.target_ids)


def sft_examples(
    problems: Sequence[MathProblem],
    tokenizer: Tokenizer,
    task: DatasetTask,
    *,
    max_len: int,
) -> list[SFTExample]:
    """Tokenized ``problems`` in ``task``'s template, without those longer than ``max_len``
    (counted in one log line)."""
    examples, dropped_lengths = [], []
    for problem in problems:
        example = SFTExample(
            tuple(encode_prompt(tokenizer, task.prompt(problem.question), template=task.template, bos=task.bos)),
            tuple(tokenizer.encode(task.target(problem))),
            problem.id,
        )
        if example.length <= max_len:
            examples.append(example)
        else:
            dropped_lengths.append(example.length)
    if dropped_lengths:
        logging.warning(
            "SFT %s/%s: dropped %d of %d examples longer than max_len=%d tokens (longest %d)",
            task.name,
            task.template,
            len(dropped_lengths),
            len(problems),
            max_len,
            max(dropped_lengths),
        )
    if dropped_lengths and not examples:
        raise ValueError(f"no {task.name} example fits max_len={max_len}: the shortest has {min(dropped_lengths)} tokens")
    return examples


class SFTBatches:
    """``step -> Batch`` over ``examples``, a pure function of (seed, step).

    Each epoch draws a permutation from (seed, epoch) and drops the remainder that does not fill a
    batch (different examples each epoch). The permutation is cut into windows of ``bucket_window``
    batches; each window is sorted by length and cut into batches, and the epoch's batches are then
    shuffled, so batches hold similar lengths but arrive in no length order. ``bucket_window=1``
    turns bucketing off. Batch length is the longest example rounded up to ``length_quantum``:
    a coarser quantum pads more but compiles the train step for fewer distinct shapes.
    """

    def __init__(
        self,
        examples: Sequence[SFTExample],
        batch_size: int,
        seed: int,
        *,
        eos_id: int,
        pad_id: int,
        bucket_window: int = 16,
        length_quantum: int = 32,
    ):
        if not 1 <= batch_size <= len(examples):
            raise ValueError(f"batch_size={batch_size} must be between 1 and the {len(examples)} examples")
        if bucket_window < 1:
            raise ValueError(f"bucket_window={bucket_window} must be at least 1 batch")
        self.examples = list(examples)
        self.batch_size, self.seed = batch_size, seed
        self.eos_id, self.pad_id = eos_id, pad_id
        self.bucket_window, self.length_quantum = bucket_window, length_quantum
        self.steps_per_epoch = len(self.examples) // batch_size
        self._lengths = np.array([e.length for e in self.examples])
        self._cached: tuple[int, list[np.ndarray]] | None = None

    def __call__(self, step: int) -> Batch:
        epoch, index = divmod(step, self.steps_per_epoch)
        chosen = [self.examples[i] for i in self._epoch_batches(epoch)[index]]
        longest = max(e.length for e in chosen)
        return sft_batch(
            [e.prompt_ids for e in chosen],
            [e.target_ids for e in chosen],
            eos_id=self.eos_id,
            pad_id=self.pad_id,
            seq_len=padded_length(longest, self.length_quantum),
        )

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Example indices of every batch of ``epoch``, in step order (the last epoch is cached)."""
        if self._cached is None or self._cached[0] != epoch:
            rng = np.random.default_rng((self.seed, epoch))
            order = rng.permutation(len(self.examples))[: self.steps_per_epoch * self.batch_size]
            window = self.bucket_window * self.batch_size
            for start in range(0, len(order), window):
                part = order[start : start + window]
                order[start : start + window] = part[np.argsort(self._lengths[part], kind="stable")]
            batches = np.split(order, self.steps_per_epoch)
            self._cached = (epoch, [batches[i] for i in rng.permutation(self.steps_per_epoch)])
        return self._cached[1]
