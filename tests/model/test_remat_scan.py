"""Remat policies and the scanned layer stack change memory and compile time, never the function:
losses and gradients equal the plain stack's (float32, CPU, 1e-6 relative, 1e-5 for the PE's
summed tables: the same operations, only fused or ordered differently by XLA), decoding with a
cache and attention capture too."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mathpe_jax.model import lora
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.model.transformer import Decoder
from tests.model.helpers import jit_forward, tiny_config, tiny_model

# The PEs whose hooks differ in kind: rotation, a bias shared by all layers (T5, with a learned
# table), a bias with one table per layer (DIET-REL reads the scanned layer index; FIRE a per-layer
# MLP, through padding), an embedding.
CASES = ["rope", "t5", "diet-rel", "fire", "sinusoidal"]
# Every (remat, scan) pair for RoPE. A remat policy wraps the whole layer whatever its PE, so each
# other PE needs only the scan, alone and under the policy that recomputes the most (its per-layer
# tables and the layer index are what a scan can get wrong).
VARIANTS = [("full", False), ("dots", False), ("none", True), ("full", True), ("dots", True)]
PE_VARIANTS = [("none", True), ("full", True)]


def batch(length=40):
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, 32, size=(2, length)).astype(np.int32)
    positions = np.tile(np.arange(length, dtype=np.int32), (2, 1))
    positions[1, :3] = -1  # left padding in row 1
    return tokens, positions


def loss_and_grads(model: Decoder, tokens, positions, trainable=nnx.Param):
    """Loss of the logits and its gradients, keyed by layer-wise parameter path."""
    graphdef, params, rest = nnx.split(model, trainable, ...)

    @jax.jit
    def run(params):
        def loss(params):
            logits = nnx.merge(graphdef, params, rest)(tokens, positions).logits
            return jnp.sum(jnp.where(positions[..., None] >= 0, jnp.tanh(logits), 0.0))

        return jax.value_and_grad(loss)(params)

    value, grads = run(params)
    return float(value), per_layer_paths(model, grads)


def per_layer_paths(model: Decoder, grads) -> dict[str, np.ndarray]:
    """Gradients by ``layers/<i>/...`` path whether the stack is scanned or not."""
    flat = {}
    for path, value in nnx.to_flat_state(grads):
        array = np.asarray(value.get_value() if hasattr(value, "get_value") else value)
        if path[0] == "layers" and model.config.scan_layers:
            for i in range(array.shape[0]):
                flat["/".join(map(str, ("layers", i, *path[1:])))] = array[i]
        else:
            flat["/".join(map(str, path))] = array
    return flat


def assert_close(got: dict, want: dict, rel: float = 1e-6, pe_rel: float = 1e-5):
    """Each array within ``rel`` of its largest entry; the PE's arrays within ``pe_rel`` of the PE's
    largest. A bias's gradient is a sum that softmax's shift invariance cancels almost to zero, as
    for FIRE's hidden biases, so its own size is no measure of the float error in it; and a bias
    table's entry sums every query-key pair of the batch (some 3,200 float32 terms here, added in
    another order under remat and scan: a rounding error of about sqrt(3200)·6e-8 ≈ 3e-6 of
    the terms; DIET-REL's table once missed 1e-6 by 1.2e-6)."""
    assert got.keys() == want.keys()
    pe_scale = max((np.abs(v).max() for k, v in want.items() if k.startswith("pe/")), default=0.0)
    for key in want:
        is_pe = key.startswith("pe/")
        scale = max(np.abs(want[key]).max(), pe_scale if is_pe else 0.0, 1e-30)
        tolerance = (pe_rel if is_pe else rel) * scale
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=tolerance, err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_remat_and_scan_give_the_plain_stacks_loss_and_gradients(case):
    tokens, positions = batch()
    want_loss, want_grads = loss_and_grads(tiny_model(case, num_layers=3), tokens, positions)
    for remat, scan in VARIANTS if case == "rope" else PE_VARIANTS:
        model = tiny_model(case, num_layers=3, remat=remat, scan_layers=scan)
        loss, grads = loss_and_grads(model, tokens, positions)
        assert loss == pytest.approx(want_loss, rel=1e-6), (remat, scan)
        assert_close(grads, want_grads)


def test_a_scanned_stack_starts_from_the_plain_stacks_weights_and_unstacks_to_them():
    plain, scanned = tiny_model("t5", num_layers=3), tiny_model("t5", num_layers=3, scan_layers=True)
    kernel = scanned.layers.attn.q_proj.kernel
    assert kernel.shape == (3, 32, 32)
    assert kernel.get_metadata()["out_sharding"] == ("layers", "embed", "heads")
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(kernel[...][i]), np.asarray(plain.layers[i].attn.q_proj.kernel[...]))
    scanned.configure(scan_layers=False)
    assert scanned.layers[2].attn.q_proj.kernel.get_metadata()["out_sharding"] == ("embed", "heads")
    for a, b in zip(jax.tree.leaves(nnx.state(scanned)), jax.tree.leaves(nnx.state(plain)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_scanned_lora_trains_the_same_adapters():
    """Adapters added per layer and then stacked (what build_model does) get the plain gradients.
    1e-5 relative: the PE's table, shared by all layers and trained here, sums its layers'
    contributions in another order under the scan (float32, entries cancel to ~1e-1 of the terms)."""
    config = lora.LoRAConfig(rank=4, alpha=8.0, train_pe=True)
    tokens, positions = batch()
    results = []
    for remat, scan in (("none", False), ("full", True)):
        model = tiny_model("diet-rel", num_layers=3)
        lora.apply_lora(model, config, rngs=nnx.Rngs(1))
        model.configure(remat=remat, scan_layers=scan)
        # B starts at zero: give it values, so the adapters' gradients depend on both factors.
        for _, variable in nnx.iter_graph(model):
            if isinstance(variable, lora.LoRAParam):
                variable[...] = variable[...] + 0.1
        results.append(loss_and_grads(model, tokens, positions, lora.trainable_filter(config)))
    (want_loss, want), (loss, got) = results
    assert any("lora" in key for key in want) and any(key.startswith("pe/") for key in want)
    assert loss == pytest.approx(want_loss, rel=1e-6)
    assert_close(got, want, rel=1e-5)


def test_a_scanned_stack_decodes_and_shows_attention_like_the_plain_one():
    tokens, positions = batch(16)
    positions[1, :3] = np.arange(3)  # no padding: compare every row
    outputs = []
    for scan in (False, True):
        raw = tiny_model("alibi", num_layers=3, scan_layers=scan)
        forward = jit_forward(raw)
        cache = forward(tokens[:, :10], positions[:, :10], cache=KVCache.empty(raw.config, 2, 16)).cache
        step = forward(tokens[:, 10:], positions[:, 10:], cache=cache).logits
        probs = raw(tokens, positions, return_attention=True).attention
        outputs.append((np.asarray(step), np.stack([np.asarray(p) for p in probs])))
    (plain_logits, plain_probs), (scan_logits, scan_probs) = outputs
    np.testing.assert_allclose(scan_logits, plain_logits, atol=1e-5)
    np.testing.assert_allclose(scan_probs, plain_probs, atol=1e-6)


def test_an_unknown_remat_policy_is_named():
    with pytest.raises(ValueError, match="'sometimes'"):
        Decoder(tiny_config(remat="sometimes"), rngs=nnx.Rngs(0))
