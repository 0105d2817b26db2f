"""The fused output projection + cross-entropy against the plain logits path (float32)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mathpe_jax.model.lora import LoRAConfig, apply_lora
from mathpe_jax.train import loss as loss_lib
from tests.model.helpers import tiny_model


def problem(seed=0, batch=3, length=37, width=16, vocab=50):
    rng = np.random.default_rng(seed)
    hidden = jnp.asarray(rng.normal(size=(batch, length, width)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(width, vocab)) * 0.3, jnp.float32)
    targets = jnp.asarray(rng.integers(0, vocab, size=(batch, length)))
    weights = jnp.asarray(rng.integers(0, 2, size=(batch, length)), jnp.float32)
    return hidden, kernel, targets, weights


def plain(hidden, kernel, targets, weights):
    return loss_lib.masked_loss_sum(jnp.einsum("btd,dv->btv", hidden, kernel), targets, weights)[0]


@pytest.fixture
def chunks_of_eight(monkeypatch):
    """A chunk budget that splits the 37 positions into chunks of 8, the last one padded."""
    monkeypatch.setattr(loss_lib, "MAX_CHUNK_LOGITS", 3 * 8 * 50 + 1)
    assert loss_lib.chunk_length(3, 37, 50) == 8


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_value_and_gradients_match_the_logits_path(chunks_of_eight, argnums):
    """Tolerance: float32 sums over 50 logits and 111 tokens, values O(1) to O(100)."""
    args = problem()
    want_value, want_grad = jax.value_and_grad(plain, argnums=argnums)(*args)
    got_value, got_grad = jax.jit(jax.value_and_grad(loss_lib.fused_cross_entropy_sum, argnums=argnums))(*args)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-6)
    for got, want in zip(jax.tree.leaves(got_grad), jax.tree.leaves(want_grad), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


def test_cotangent_scales_the_gradient(chunks_of_eight):
    args = problem(1)
    got = jax.grad(lambda h: 0.25 * loss_lib.fused_cross_entropy_sum(h, *args[1:]))(args[0])
    want = jax.grad(lambda h: 0.25 * plain(h, *args[1:]))(args[0])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_bfloat16_hidden_states_keep_their_dtype():
    hidden, kernel, targets, weights = problem(2)
    grads = jax.grad(loss_lib.fused_cross_entropy_sum, argnums=(0, 1))(
        hidden.astype(jnp.bfloat16), kernel, targets, weights
    )
    assert grads[0].dtype == jnp.bfloat16 and grads[1].dtype == jnp.float32


@pytest.mark.parametrize(
    "batch,length,vocab,expected",
    [(8, 256, 32000, 64), (64, 20, 16, 20), (1, 10, 2**25, 1)],
)
def test_chunk_length(batch, length, vocab, expected):
    assert loss_lib.chunk_length(batch, length, vocab) == expected


@pytest.mark.slow
@pytest.mark.parametrize("setup", ["untied", "tied", "lora_on_lm_head"])
def test_model_loss_matches_its_logits(setup):
    """lm_loss_sum fuses when the output projection is one matrix and falls back to the logits
    otherwise; either way it is the loss of the model's own logits."""
    model = tiny_model("rope", tie_embeddings=setup == "tied")
    if setup == "lora_on_lm_head":
        apply_lora(model, LoRAConfig(rank=2, target_modules="lm_head"))
        assert model.output_kernel() is None
    else:
        assert model.output_kernel() is not None
    rng = np.random.default_rng(3)
    tokens = jnp.asarray(rng.integers(0, 32, size=(2, 12)))
    positions = jnp.broadcast_to(jnp.arange(12), (2, 12))
    targets = jnp.asarray(rng.integers(0, 32, size=(2, 12)))
    mask = jnp.asarray(rng.integers(0, 2, size=(2, 12)), jnp.float32)

    def fused(params, rest):
        return loss_lib.lm_loss_sum(nnx.merge(graphdef, params, rest), tokens, positions, targets, mask)[0]

    def through_logits(params, rest):
        logits = nnx.merge(graphdef, params, rest)(tokens, positions).logits
        return loss_lib.masked_loss_sum(logits, targets, mask)[0]

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    got_value, got_grad = jax.value_and_grad(fused)(params, rest)
    want_value, want_grad = jax.value_and_grad(through_logits)(params, rest)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-5)
    for got, want in zip(jax.tree.leaves(got_grad), jax.tree.leaves(want_grad), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
