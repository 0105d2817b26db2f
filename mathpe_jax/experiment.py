"""What a run config turns into: tokenizer, model, training batches, evaluation.

``main.py`` wires these pieces; tests build them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import nnx
from ml_collections import ConfigDict

from mathpe_jax.data.batching import Batch, sft_batch
from mathpe_jax.data.synthetic import train_examples
from mathpe_jax.data.tokenizer import CharTokenizer, Tokenizer
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.sharding import create_sharded


def build_tokenizer(config: ConfigDict) -> Tokenizer:
    del config
    return CharTokenizer()


def build_model(config: ConfigDict, tokenizer: Tokenizer, mesh: jax.sharding.Mesh) -> Decoder:
    """A freshly initialised decoder, created directly on its shardings, seeded by ``config.seed``."""
    model_config = ModelConfig.from_config(config.model.to_dict(), tokenizer.vocab_size)
    return create_sharded(lambda: Decoder(model_config, rngs=nnx.Rngs(config.seed)), mesh)


def synthetic_batch_fn(config: ConfigDict, tokenizer: Tokenizer) -> Callable[[int], Batch]:
    """``step -> Batch``: the global batch of that step, the same on every host and every rerun."""
    task, train = config.task, config.train
    lo, hi = task.train_lengths
    lengths = list(range(lo, hi + 1))

    def batch_fn(step: int) -> Batch:
        examples = train_examples(task.name, lengths, train.batch_size, config.seed, step, task.reverse)
        return sft_batch(
            [tokenizer.encode(e.prompt) for e in examples],
            [tokenizer.encode(e.answer) for e in examples],
            bos_id=tokenizer.bos_id if task.bos else None,
            eos_id=tokenizer.eos_id,
            pad_id=tokenizer.pad_id,
        )

    return batch_fn


def parameter_count(model: nnx.Module) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


def describe(config: ConfigDict) -> dict[str, Any]:
    """The identifying fields of results.json."""
    return {"config": config.name, "pe": config.model.pe.name, "task": config.task.name}
