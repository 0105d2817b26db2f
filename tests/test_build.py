"""build: a config becomes a task and training batches whose prompts ``encode_prompt`` made."""

from __future__ import annotations

import numpy as np
import pytest

from mathpe_jax import build
from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.data.tokenizer import CharTokenizer
from mathpe_jax.parallel.mesh import mesh_from_config
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


@pytest.mark.parametrize(("family", "refused"), [("qwen2", True), ("llama", False)])
def test_a_pe_that_needs_bos_is_refused_where_the_tokenizer_adds_none(tmp_path, data_dir, family, refused):
    import json

    from ml_collections import ConfigDict

    from configs import finetune_gsm8k
    from mathpe_jax.errors import UserError
    from mathpe_jax.parallel.mesh import mesh_from_config
    from tests.helpers_hf import family_checkpoint

    lines = (data_dir / "gsm8k" / "train.jsonl").read_text().splitlines()[:100]
    checkpoint = family_checkpoint(tmp_path / family, family, [json.loads(line)["question"] for line in lines])
    config = finetune_gsm8k.get_config()
    config.init.hf_dir = str(checkpoint)
    config.model.pe = ConfigDict({"name": "nope"})
    tokenizer = build.build_tokenizer(config, tmp_path)
    mesh = mesh_from_config({"data": -1, "fsdp": 1, "tensor": 1})
    if refused:
        with pytest.raises(UserError, match=r"config.model.pe.name='nope' needs a BOS token first.*adds none"):
            build.build_model(config, tokenizer, mesh)
    else:
        assert build.build_model(config, tokenizer, mesh).config.pe_name == "nope"


def test_randomized_training_positions_are_a_function_of_the_step():
    config = tiny_config("rope", **{"train.positions": "randomized"})
    batches = build.batch_fn(config, CharTokenizer())
    plain = build.batch_fn(tiny_config("rope"), CharTokenizer())(3)
    first, again, other = batches(3), batches(3), batches(4)
    np.testing.assert_array_equal(first.positions, again.positions)
    np.testing.assert_array_equal(first.inputs, plain.inputs)  # same examples, new positions
    assert not np.array_equal(first.positions, plain.positions)
    assert not np.array_equal(first.positions[:, :4], other.positions[:, :4])
    assert first.positions.max() < config.model.max_len


def test_the_model_knows_the_tokenizers_digits():
    config = tiny_config("rope")
    model = build.build_model(config, CharTokenizer(), mesh_from_config({"data": -1, "fsdp": 1, "tensor": 1}))
    assert model.config.digit_ids == tuple(CharTokenizer().encode("0123456789"))


@pytest.mark.parametrize("quantum", [32, 100])
def test_text_batches_are_padded_to_the_configs_length_quantum(quantum, tiny_hf_tokenizer_dir, tmp_path):
    from configs import finetune_gsm8k

    config = finetune_gsm8k.get_config()
    config.init.hf_dir, config.task.train_limit, config.train.batch_size = str(tiny_hf_tokenizer_dir), 32, 4
    config.task.length_quantum = quantum
    batches = build.batch_fn(config, build.build_tokenizer(config, tmp_path))
    lengths = {batches(step).inputs.shape[1] for step in range(8)}
    assert all(length % quantum == 0 for length in lengths) and len(lengths) > 1
