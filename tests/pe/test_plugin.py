"""A PE is a plug-in: the config file's one ``model.pe`` line builds it into the run's model, which
trains (the PE's own parameters too) and decodes greedily with a KV cache exactly as by recomputing
every prefix without one. Tiny and CPU-only: a few seconds per PE."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from mathpe_jax import build
from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.decode import greedy_generate, greedy_tokens, left_pad
from mathpe_jax.parallel.mesh import mesh_from_config
from mathpe_jax.train.trainer import train
from tests.helpers_run import tiny_config

NEW_TOKENS = 6


def pe_params(model) -> dict[str, np.ndarray]:
    return {"/".join(map(str, p)): np.asarray(v[...]) for p, v in nnx.to_flat_state(nnx.state(model.pe, nnx.Param))}


def greedy_without_cache(model, prompts: list[list[int]], eos_id: int, pad_id: int) -> list[list[int]]:
    """Each new token from a full forward over the prompt and everything generated, left-padded to
    one length (one compiled shape)."""
    forward = jax.jit(lambda tokens, positions: greedy_tokens(model(tokens, positions).logits[:, -1]))
    length = max(map(len, prompts)) + NEW_TOKENS
    generated = [[] for _ in prompts]
    for _ in range(NEW_TOKENS):
        tokens, positions = left_pad([p + g for p, g in zip(prompts, generated)], pad_id, length)
        for row, token in enumerate(np.asarray(forward(tokens, positions)).tolist()):
            generated[row].append(token)
    return [g[: g.index(eos_id) + 1] if eos_id in g else g for g in generated]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, positions", [("fire", "sequential"), ("learned", "sequential"), ("abacus", "sequential"),
                       ("abacus_fire", "sequential"), ("abacus_place", "sequential"), ("place_bias", "sequential"),
                       ("fire", "randomized")]
)
def test_a_pe_chosen_by_its_config_trains_and_decodes_with_the_cache_as_without(name, positions, tmp_path):
    config = tiny_config(
        name, **{"train.steps": 3, "train.log_every": 3, "train.checkpoint_every": 3, "train.positions": positions}
    )
    tokenizer = build.build_tokenizer(config, tmp_path)
    mesh = mesh_from_config(config.mesh)
    model = build.build_model(config, tokenizer, mesh)
    assert model.config.pe_name == name
    before = pe_params(model)
    with jax.set_mesh(mesh):
        result = train(model, build.batch_fn(config, tokenizer), dict(config.train), tmp_path, mesh)
    assert result.step == 3 and np.isfinite(result.final_loss)
    after = pe_params(model)
    assert before and all(not np.array_equal(before[k], after[k]) for k in before)

    task = build.make_task(config)
    examples = task.test_examples(1, 2) + task.test_examples(3, 2)  # unequal lengths: left padding
    prompts = [encode_prompt(tokenizer, task.prompt(e.prompt), template=task.template, bos=task.bos) for e in examples]
    assert len({len(p) for p in prompts}) > 1
    ids = {"eos_id": tokenizer.eos_id, "pad_id": tokenizer.pad_id}
    cached = greedy_generate(model, prompts, max_new_tokens=NEW_TOKENS, batch_size=4, **ids)
    assert cached == greedy_without_cache(model, prompts, **ids)
