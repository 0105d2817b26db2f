"""build: a config becomes a task and training batches whose prompts ``encode_prompt`` made."""

from __future__ import annotations

import numpy as np
import pytest

from mathpe_jax import build
from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.data.tokenizer import CharTokenizer
from tests.helpers_run import tiny_config


@pytest.mark.parametrize("bos", [True, False])
def test_synthetic_batches_start_with_the_encoded_prompt(bos):
    config = tiny_config("rope", **{"task.bos": bos})
    tokenizer = CharTokenizer()
    task = build.make_task(config)
    batch = build.batch_fn(config, tokenizer)(3)
    for row, example in enumerate(task.train_examples(config.train.batch_size, 3)):
        prompt = encode_prompt(tokenizer, task.prompt(example.prompt), template=task.template, bos=bos)
        np.testing.assert_array_equal(batch.inputs[row, : len(prompt)], prompt)
        assert batch.loss_mask[row, len(prompt) - 2] == 0 and batch.loss_mask[row, len(prompt) - 1] == 1
