import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mathpe_jax.model.kv_cache import KVCache
from tests.model.helpers import PE_CASES, jit_forward, tiny_config, tiny_model

ALL = sorted(PE_CASES)


def arange_positions(batch, length):
    return jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))


@pytest.mark.parametrize("case", ALL)
def test_changing_a_later_token_never_changes_an_earlier_logit(case):
    model = jit_forward(tiny_model(case))
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, 32, size=(2, 20)).astype(np.int32)
    changed = tokens.copy()
    changed[:, 12:] = rng.integers(3, 32, size=(2, 8))
    pos = arange_positions(2, 20)
    a = np.asarray(model(tokens, pos).logits)
    b = np.asarray(model(changed, pos).logits)
    np.testing.assert_array_equal(a[:, :12], b[:, :12])
    assert not np.allclose(a[:, 12:], b[:, 12:])


@pytest.mark.parametrize("case", ALL)
def test_decoding_with_the_cache_equals_the_full_forward(case):
    # Same float32 math in a different order (cache slots vs one matmul): 1e-5 absolute.
    raw = tiny_model(case)
    model = jit_forward(raw)
    tokens = np.random.default_rng(1).integers(3, 32, size=(2, 16)).astype(np.int32)
    pos = arange_positions(2, 16)
    full = np.asarray(model(tokens, pos).logits)
    cache = KVCache.empty(raw.config, 2, 24)
    out = model(tokens[:, :10], pos[:, :10], cache=cache)
    steps = [np.asarray(out.logits)]
    cache = out.cache
    for t in range(10, 16):
        out = model(tokens[:, t : t + 1], pos[:, t : t + 1], cache=cache)
        cache = out.cache
        steps.append(np.asarray(out.logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    assert int(cache.index) == 16


@pytest.mark.parametrize("case", ["rope", "alibi", "t5", "sinusoidal", "fire", "learned"])
def test_left_padding_does_not_change_the_real_tokens(case):
    model = jit_forward(tiny_model(case))
    tokens = np.random.default_rng(2).integers(3, 32, size=(1, 9)).astype(np.int32)
    plain = np.asarray(model(tokens, arange_positions(1, 9)).logits)
    padded_tokens = np.concatenate([np.zeros((1, 4), np.int32), tokens], axis=1)
    padded_pos = np.concatenate([np.full((1, 4), -1, np.int32), np.arange(9, dtype=np.int32)[None]], axis=1)
    padded = np.asarray(model(padded_tokens, padded_pos).logits)
    np.testing.assert_allclose(padded[:, 4:], plain, atol=1e-5)


def test_attention_probabilities_are_returned_per_layer():
    model = tiny_model("alibi")
    out = model(np.ones((2, 5), np.int32), arange_positions(2, 5), return_attention=True)
    assert len(out.attention) == 2
    probs = np.asarray(out.attention[0])
    assert probs.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert np.all(np.triu(probs[0, 0], k=1) == 0)


def test_tied_embeddings_have_no_lm_head():
    model = tiny_model("rope", tie_embeddings=True)
    assert model.lm_head is None
    names = {"/".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert not any(n.startswith("lm_head") for n in names)


def test_parameters_carry_logical_axis_names():
    model = tiny_model("t5")
    state = nnx.state(model, nnx.Param)
    for path, var in nnx.to_flat_state(state):
        axes = var.get_metadata().get("out_sharding")
        assert axes is not None and len(axes) == var[...].ndim, path


def test_bf16_compute_keeps_float32_parameters_and_logits():
    model = tiny_model("rope", dtype="bfloat16")
    out = jit_forward(model)(np.ones((1, 4), np.int32), arange_positions(1, 4))
    assert out.logits.dtype == jnp.float32
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    reference = jit_forward(tiny_model("rope"))(np.ones((1, 4), np.int32), arange_positions(1, 4)).logits
    np.testing.assert_allclose(np.asarray(out.logits), np.asarray(reference), atol=0.15)  # bf16 ~ 3 digits


def test_model_is_jittable_through_split_and_merge():
    model = tiny_model("diet-rel")
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, tokens, positions):
        return nnx.merge(graphdef, state)(tokens, positions).logits

    tokens, pos = np.ones((1, 6), np.int32), arange_positions(1, 6)
    np.testing.assert_allclose(np.asarray(forward(state, tokens, pos)), np.asarray(model(tokens, pos).logits), atol=1e-6)


def test_config_head_dim_defaults_to_width_over_heads():
    assert tiny_config().head_dim == 8
    assert tiny_config(head_dim=16).head_dim == 16
