"""Exact match of greedy decoding on a synthetic task, in distribution and per test length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging

from mathpe_jax.data.synthetic import Example, eval_examples
from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.decode import greedy_generate
from mathpe_jax.model.transformer import Decoder


def count_correct(model: Decoder, tokenizer: Tokenizer, examples: Sequence[Example], bos: bool, batch_size: int) -> int:
    """How many examples get a greedy answer (up to EOS) exactly equal to the gold answer."""
    head = [tokenizer.bos_id] if bos else []
    prompts = [head + tokenizer.encode(e.prompt) for e in examples]
    budget = max(len(tokenizer.encode(e.answer)) for e in examples) + 2
    outputs = greedy_generate(
        model, prompts, max_new_tokens=budget, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, batch_size=batch_size
    )
    return sum(out[-1:] == [tokenizer.eos_id] and tokenizer.decode(out) == e.answer for out, e in zip(outputs, examples))


def evaluate_lengths(
    model: Decoder, tokenizer: Tokenizer, task: Mapping[str, Any], eval_config: Mapping[str, Any], seed: int
) -> dict:
    """``{"in_distribution": {...}, "by_length": {"<n>": {...}}}`` for the run's task.

    Every length, in and out of the training range, has its own fixed test set (same size,
    fixed by the seed); in-distribution pools the training lengths.
    """
    count = eval_config["examples_per_length"]
    lo, hi = task["train_lengths"]
    by_length = {}
    for n in sorted({*range(lo, hi + 1), *task["test_lengths"]}):
        examples = eval_examples(task["name"], n, count, seed, task["reverse"])
        correct = count_correct(model, tokenizer, examples, task["bos"], eval_config["batch_size"]) if count else 0
        by_length[n] = {"exact_match": correct / max(count, 1), "n": count}
        logging.info("length %d: exact match %.3f (n=%d)", n, by_length[n]["exact_match"], count)
    in_dist = [by_length[n] for n in range(lo, hi + 1)]
    n_in = sum(r["n"] for r in in_dist)
    pooled = sum(r["exact_match"] * r["n"] for r in in_dist) / max(n_in, 1)
    return {
        "in_distribution": {"exact_match": pooled, "n": n_in},
        "by_length": {str(n): r for n, r in by_length.items()},
    }
