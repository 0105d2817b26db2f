"""LoRA: a no-op until trained, an exact merge, only adapters (and the PE if asked) train."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from mathpe_jax.data.batching import Batch
from mathpe_jax.model.lora import (
    LoRAConfig,
    LoRAParam,
    apply_lora,
    base_params,
    load_adapter,
    lora_modules,
    merge_lora,
    save_adapter,
    trainable_filter,
)
from mathpe_jax.train.step import TrainState, make_train_step
from tests.model.helpers import tiny_model

TOKENS = jnp.asarray(np.random.default_rng(0).integers(0, 32, size=(2, 24)))
POSITIONS = jnp.broadcast_to(jnp.arange(24), (2, 24))
ALL_LINEARS = r".*(attn|mlp)\.\w+_proj|lm_head"


@nnx.jit
def logits(model):
    return model(TOKENS, POSITIONS).logits


def randomize_adapters(model, seed=0):
    keys = iter(jax.random.split(jax.random.key(seed), 2 * len(lora_modules(model))))
    for layer in lora_modules(model).values():
        for variable in (layer.lora.lora_a, layer.lora.lora_b):
            variable[...] = 0.3 * jax.random.normal(next(keys), variable[...].shape)


def flat(state):
    return {path: np.asarray(v[...]) for path, v in nnx.to_flat_state(state)}


def test_zero_b_leaves_the_model_unchanged():
    model = tiny_model()
    before = logits(model)
    apply_lora(model, LoRAConfig(rank=4, target_modules=ALL_LINEARS))
    np.testing.assert_array_equal(logits(model), before)


def test_targets_follow_the_regex_and_base_paths_stay():
    model = tiny_model()
    base_paths = set(flat(nnx.state(model, nnx.Param)))
    apply_lora(model, LoRAConfig(rank=2, target_modules=r".*attn\.(q|v)_proj"))
    assert sorted(lora_modules(model)) == [f"layers.{i}.attn.{p}_proj" for i in (0, 1) for p in "qv"]
    assert type(model.layers[0].attn.k_proj) is nnx.Linear
    assert set(flat(nnx.state(model, nnx.All(nnx.Param, nnx.Not(LoRAParam))))) == base_paths
    a = model.layers[0].attn.q_proj.lora.lora_a
    assert a[...].shape == (32, 2) and a.get_metadata()["out_sharding"] == ("embed", None)


def test_a_pattern_matching_nothing_is_one_line():
    with pytest.raises(ValueError, match=r"matches no linear layer") as err:
        apply_lora(tiny_model(), LoRAConfig(target_modules=r"layers\.9\..*"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("changes", [{"rank": 0}, {"alpha": 0.0}, {"dropout": 1.0}, {"target_modules": "(("}])
def test_bad_config_is_one_line(changes):
    with pytest.raises(ValueError) as err:
        LoRAConfig(**changes)
    assert "lora." in str(err.value) and "\n" not in str(err.value)


def test_merge_folds_the_update_into_the_kernel_to_float32_rounding():
    model = tiny_model()
    kernels = flat(base_params(model))
    apply_lora(model, LoRAConfig(rank=4, alpha=8.0, target_modules=ALL_LINEARS))
    randomize_adapters(model)
    adapted = logits(model)
    assert np.abs(adapted - logits(tiny_model())).max() > 0.1

    merge_lora(model)
    # x (W + sAB) and xW + s(xA)B round differently: float32 noise on logits of size ~5.
    np.testing.assert_allclose(logits(model), adapted, rtol=0, atol=1e-4)
    eps = np.finfo(np.float32).eps
    for path, layer in lora_modules(model).items():
        expected = kernels[tuple(int(k) if k.isdigit() else k for k in path.split(".")) + ("kernel",)] + layer.delta()
        assert np.all(np.abs(np.asarray(layer.kernel[...]) - expected) <= eps * np.abs(expected)), path
    with pytest.raises(ValueError, match="already merged"):
        merge_lora(model)


@pytest.mark.parametrize("train_pe", [False, True])
def test_only_adapters_and_optionally_the_pe_get_gradients(train_pe):
    model = tiny_model("t5")
    config = LoRAConfig(rank=2, train_pe=train_pe)
    apply_lora(model, config)
    graphdef, trainable, frozen = nnx.split(model, trainable_filter(config), ...)
    pe_paths = {p for p in flat(trainable) if p[0] == "pe"}
    assert pe_paths == ({("pe", "table")} if train_pe else set())
    assert all(isinstance(v, LoRAParam) for p, v in nnx.to_flat_state(trainable) if p[0] != "pe")
    assert len(flat(trainable)) == len(flat(nnx.state(model, LoRAParam))) + len(pe_paths)

    def loss(params):
        return jnp.mean(nnx.merge(graphdef, params, frozen)(TOKENS, POSITIONS).logits ** 2)

    grads = jax.jit(jax.grad(loss))(trainable)
    assert set(flat(grads)) == set(flat(trainable))
    assert np.abs(flat(grads)[("layers", 0, "attn", "q_proj", "lora", "lora_a")]).max() == 0  # B = 0
    assert np.abs(flat(grads)[("layers", 0, "attn", "q_proj", "lora", "lora_b")]).max() > 0


def test_a_training_step_keeps_state_for_and_moves_only_the_trainable_part():
    """The split training uses: the frozen base has no optimizer state, and a step moves the
    adapters' B and the PE (A's gradient is 0 while B = 0)."""
    model = tiny_model("t5")
    config = LoRAConfig(rank=2, train_pe=True)
    apply_lora(model, config)
    graphdef, params, rngs, frozen = nnx.split(model, trainable_filter(config), nnx.RngState, ...)
    tx = optax.adam(1e-2)
    state = TrainState(jnp.int32(0), params, tx.init(params), rngs)
    trainable_size = sum(x.size for x in jax.tree.leaves(params))
    assert sum(x.size for x in jax.tree.leaves(state.opt_state) if x.ndim) == 2 * trainable_size  # adam's moments

    batch = Batch(TOKENS, jnp.roll(TOKENS, -1, axis=1), POSITIONS, jnp.ones(TOKENS.shape, jnp.float32))
    before = flat(params)
    after = flat(jax.jit(make_train_step(graphdef, tx, grad_accum=1))(state, frozen, batch)[0].params)
    moved = {path for path, value in before.items() if not np.array_equal(after[path], value)}
    assert moved == {path for path in before if path[-1] != "lora_a"} and ("pe", "table") in moved


def test_dropout_only_in_train_mode():
    model = tiny_model()
    apply_lora(model, LoRAConfig(rank=4, dropout=0.5))
    randomize_adapters(model)
    first = model(TOKENS, POSITIONS).logits
    np.testing.assert_array_equal(model(TOKENS, POSITIONS).logits, first)
    model.train()
    assert not np.array_equal(model(TOKENS, POSITIONS).logits, model(TOKENS, POSITIONS).logits)
    model.eval()
    np.testing.assert_array_equal(model(TOKENS, POSITIONS).logits, first)


def test_save_and_load_adapter_with_the_pe(tmp_path):
    model = tiny_model("t5")
    apply_lora(model, LoRAConfig(rank=3, alpha=6.0, target_modules=ALL_LINEARS, train_pe=True))
    randomize_adapters(model)
    model.pe.table[...] = model.pe.table[...] + 1.0
    save_adapter(model, tmp_path)

    restored = load_adapter(tiny_model("t5"), tmp_path)
    np.testing.assert_array_equal(logits(restored), logits(model))
    expected, got = flat(nnx.state(model, LoRAParam)), flat(nnx.state(restored, LoRAParam))
    assert set(got) == set(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value)


def test_unmerged_adapters_block_base_params():
    model = tiny_model()
    apply_lora(model, LoRAConfig(rank=2))
    with pytest.raises(ValueError, match=r"layers\.0\.attn\.k_proj is not merged"):
        base_params(model)
    assert not any(isinstance(v, LoRAParam) for _, v in nnx.to_flat_state(base_params(merge_lora(model))))
