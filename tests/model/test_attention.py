import jax
import numpy as np
import pytest

from mathpe_jax.model.attention import attention


def reference_attention(q, k, v, qpos, kpos, bias):
    """float64 NumPy: per-head softmax(q.k/sqrt(d) + bias) over visible keys, kv heads repeated."""
    b, t, h, d = q.shape
    group = h // k.shape[2]
    k = np.repeat(k, group, axis=2).astype(np.float64)
    v = np.repeat(v, group, axis=2).astype(np.float64)
    logits = np.einsum("bthd,bshd->bhts", q.astype(np.float64), k) / np.sqrt(d) + bias
    visible = (kpos[:, None, None, :] >= 0) & (kpos[:, None, None, :] <= qpos[:, None, :, None])
    logits = np.where(visible, logits, -np.inf)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bhts,bshd->bthd", probs, v)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(2, 6, 4, 8)).astype(np.float32)
    k = rng.normal(size=(2, 9, 2, 8)).astype(np.float32)
    v = rng.normal(size=(2, 9, 2, 8)).astype(np.float32)
    kpos = np.tile(np.arange(9, dtype=np.int32), (2, 1))
    kpos[1, :2] = -1  # left padding in row 1
    qpos = kpos[:, 3:]
    bias = rng.normal(size=(2, 4, 6, 9)).astype(np.float32)
    return q, k, v, qpos, kpos, bias


def test_matches_float64_reference_with_gqa_bias_and_padding():
    q, k, v, qpos, kpos, bias = inputs()
    out, probs = attention(q, k, v, q_positions=qpos, k_positions=kpos, bias=bias, return_probs=True)
    np.testing.assert_allclose(np.asarray(out), reference_attention(q, k, v, qpos, kpos, bias), atol=1e-5)
    assert np.all(np.asarray(probs)[1, :, :, :2] == 0)


def test_library_kernel_agrees_with_our_einsums():
    """jax.nn.dot_product_attention (the fused path on GPU) computes the same function."""
    q, k, v, qpos, kpos, bias = inputs(1)
    ours, _ = attention(q, k, v, q_positions=qpos, k_positions=kpos, bias=bias)
    from mathpe_jax.model.attention import visibility_mask

    lib = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=visibility_mask(qpos, kpos), implementation="xla")
    np.testing.assert_allclose(np.asarray(ours), np.asarray(lib), atol=1e-5)


def test_unknown_implementation_is_named():
    q, k, v, qpos, kpos, _ = inputs()
    with pytest.raises(ValueError, match="'flash'"):
        attention(q, k, v, q_positions=qpos, k_positions=kpos, implementation="flash")
