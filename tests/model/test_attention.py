import jax
import numpy as np
import pytest

from mathpe_jax.model.attention import attention


def reference_attention(q, k, v, qpos, kpos, bias, window=0):
    """float64 NumPy: per-head softmax(q.k/sqrt(d) + bias) over visible keys, kv heads repeated;
    with a window, keys fewer than ``window`` positions back."""
    b, t, h, d = q.shape
    group = h // k.shape[2]
    k = np.repeat(k, group, axis=2).astype(np.float64)
    v = np.repeat(v, group, axis=2).astype(np.float64)
    logits = np.einsum("bthd,bshd->bhts", q.astype(np.float64), k) / np.sqrt(d) + bias
    visible = (kpos[:, None, None, :] >= 0) & (kpos[:, None, None, :] <= qpos[:, None, :, None])
    if window:
        visible &= qpos[:, None, :, None] - kpos[:, None, None, :] < window
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


def long_inputs(seed=2, length=300, heads=4, kv_heads=2):
    """Self-attention inputs longer than two query blocks (the last one ragged), with left padding."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(2, length, heads, 8)).astype(np.float32)
    k = rng.normal(size=(2, length, kv_heads, 8)).astype(np.float32)
    v = rng.normal(size=(2, length, kv_heads, 8)).astype(np.float32)
    pos = np.tile(np.arange(length, dtype=np.int32), (2, 1))
    pos[1] = np.arange(length) - 5  # five padding slots in row 1
    pos[1, :5] = -1
    return q, k, v, pos


def test_query_blocks_match_float64_reference():
    """causal_slots skips the keys after each query block; the result is plain causal attention."""
    from mathpe_jax.model.attention import QUERY_BLOCK

    q, k, v, pos = long_inputs()
    assert q.shape[1] > 2 * QUERY_BLOCK and q.shape[1] % QUERY_BLOCK
    bias = np.random.default_rng(3).normal(size=(1, 4, 300, 300)).astype(np.float32)
    out, _ = attention(q, k, v, q_positions=pos, k_positions=pos, bias=bias, causal_slots=True)
    real = pos >= 0  # a padding query sees no key; its output is unused and left unspecified
    np.testing.assert_allclose(np.asarray(out)[real], reference_attention(q, k, v, pos, pos, bias)[real], atol=1e-5)


@pytest.mark.parametrize("window", [1, 40, 200])
def test_sliding_window_matches_float64_reference(window):
    """Windows inside one query block, across blocks, and longer than a block; blocked (keys from
    the window's start) and unblocked (a KV cache's view) give the same rows."""
    q, k, v, pos = long_inputs(seed=7)
    bias = np.zeros((1, 4, 300, 300), np.float32)
    real = pos >= 0
    want = reference_attention(q, k, v, pos, pos, bias, window)[real]
    for causal_slots in (True, False):
        out, _ = attention(q, k, v, q_positions=pos, k_positions=pos, causal_slots=causal_slots, window=window)
        np.testing.assert_allclose(np.asarray(out)[real], want, atol=1e-5)


def test_causal_slots_hide_later_slots_whatever_the_positions():
    """Positions that restart (two packed sequences) must not let a query see a later slot."""
    q, k, v, *_ = inputs()
    pos = np.tile(np.array([0, 1, 2, 0, 1, 2], np.int32), (2, 1))
    k, v = k[:, :6], v[:, :6]
    out, probs = attention(q, k, v, q_positions=pos, k_positions=pos, causal_slots=True, return_probs=True)
    assert np.all(np.triu(np.asarray(probs)[0, 0], 1) == 0)
    first_only = attention(q[:, :1], k[:, :1], v[:, :1], q_positions=pos[:, :1], k_positions=pos[:, :1])[0]
    np.testing.assert_allclose(np.asarray(out)[:, :1], np.asarray(first_only), atol=1e-6)


def test_causal_slots_need_self_attention():
    q, k, v, qpos, kpos, _ = inputs()
    with pytest.raises(ValueError, match="9 keys for 6 queries"):
        attention(q, k, v, q_positions=qpos, k_positions=kpos, causal_slots=True)


@pytest.mark.parametrize("bias_batch", [1, 2])
def test_hand_written_backward_matches_autodiff(bias_batch):
    """Gradients of the blocked attention (its own backward pass) against autodiff of a plain
    float32 formula, for q, k, v and a trainable bias; tolerance 1e-4 for float32 sums of 300 terms."""
    import jax.numpy as jnp

    q, k, v, pos = long_inputs(seed=4)
    bias = np.random.default_rng(5).normal(size=(bias_batch, 4, 300, 300)).astype(np.float32)
    d_out = np.random.default_rng(6).normal(size=q.shape).astype(np.float32)
    d_out[pos < 0] = 0  # padding queries are unused (their loss is masked), so they get no gradient

    def plain(q, k, v, bias):
        kk, vv = jnp.repeat(k, 2, axis=2), jnp.repeat(v, 2, axis=2)
        logits = jnp.einsum("bthd,bshd->bhts", q, kk) / np.sqrt(8.0) + bias
        visible = (pos[:, None, None, :] >= 0) & (pos[:, None, None, :] <= pos[:, None, :, None])
        probs = jax.nn.softmax(jnp.where(visible, logits, -1e30), axis=-1)
        return jnp.einsum("bhts,bshd->bthd", probs, vv)

    def ours(q, k, v, bias):
        return attention(q, k, v, q_positions=pos, k_positions=pos, bias=bias, causal_slots=True)[0]

    def grads(fn):
        return jax.grad(lambda *args: jnp.sum(fn(*args) * d_out), argnums=(0, 1, 2, 3))(q, k, v, bias)

    for name, got, want in zip("q k v bias".split(), grads(ours), grads(plain), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-4, err_msg=name)
