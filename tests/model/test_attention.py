import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mathpe_jax.model.attention import Bias, attention


def table_bias(table):
    """A ``Bias`` reading ``table [B or 1, H, P, P]`` at (query position, key position); padding
    (-1) reads position 0, which the mask hides anyway. Any bias a PE can give has this form."""

    def read(table, qp, kp, q_inputs, k_inputs):
        del q_inputs, k_inputs
        qi, ki = jnp.maximum(qp, 0), jnp.maximum(kp, 0)
        rows = jnp.broadcast_to(table, (qp.shape[0], *table.shape[1:]))
        return jax.vmap(lambda t, a, b: t[:, a[:, None], b[None, :]])(rows, qi, ki)

    return Bias(read, jnp.asarray(table))


def dense_bias(table, qpos, kpos):
    """The ``[B, H, T, S]`` float64 bias by slot that ``table_bias(table)`` gives."""
    table = np.broadcast_to(np.asarray(table, np.float64), (qpos.shape[0], *np.shape(table)[1:]))
    qi, ki = np.maximum(qpos, 0), np.maximum(kpos, 0)
    return np.stack([table[b][:, qi[b][:, None], ki[b][None, :]] for b in range(qpos.shape[0])])


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
    table = rng.normal(size=(2, 4, 9, 9)).astype(np.float32)
    return q, k, v, qpos, kpos, table


def test_matches_float64_reference_with_gqa_bias_and_padding():
    q, k, v, qpos, kpos, table = inputs()
    out, probs = attention(q, k, v, q_positions=qpos, k_positions=kpos, bias=table_bias(table), return_probs=True)
    want = reference_attention(q, k, v, qpos, kpos, dense_bias(table, qpos, kpos))
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-5)
    assert np.all(np.asarray(probs)[1, :, :, :2] == 0)


def test_library_kernel_agrees_with_our_einsums():
    """jax.nn.dot_product_attention (the fused path on GPU) computes the same function."""
    q, k, v, qpos, kpos, table = inputs(1)
    ours, _ = attention(q, k, v, q_positions=qpos, k_positions=kpos, bias=table_bias(table))
    from mathpe_jax.model.attention import visibility_mask

    bias = table_bias(table).whole(jnp.asarray(qpos), jnp.asarray(kpos))
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
    table = np.random.default_rng(3).normal(size=(1, 4, 300, 300)).astype(np.float32)
    blocked = jax.jit(lambda q, k, v, table: attention(q, k, v, q_positions=pos, k_positions=pos, bias=table_bias(table),
                                                         causal_slots=True)[0])
    out = blocked(q, k, v, table)
    real = pos >= 0  # a padding query sees no key; its output is unused and left unspecified
    want = reference_attention(q, k, v, pos, pos, dense_bias(table, pos, pos))
    np.testing.assert_allclose(np.asarray(out)[real], want[real], atol=1e-5)


def test_a_bias_reads_per_token_inputs_cut_to_each_query_block():
    """A bias of per-token inputs (as a PE reads digit places) rather than positions: each block
    gets its own queries' and keys' values, so the blocked result is the dense one."""
    q, k, v, pos = long_inputs(seed=7)
    tags = np.random.default_rng(8).integers(0, 12, size=pos.shape).astype(np.int32)
    table = np.random.default_rng(9).normal(size=(1, 4, 12, 12)).astype(np.float32)

    def read(table, qp, kp, q_inputs, k_inputs):
        del qp, kp
        return table_bias(table).whole(q_inputs["tag"], k_inputs["tag"])

    def blocked(q, k, v, table, tags):
        bias = Bias(read, table, {"tag": tags}, {"tag": tags})
        return attention(q, k, v, q_positions=pos, k_positions=pos, bias=bias, causal_slots=True)[0]

    out = jax.jit(blocked)(q, k, v, table, tags)
    real = pos >= 0
    want = reference_attention(q, k, v, pos, pos, dense_bias(table, tags, tags))
    np.testing.assert_allclose(np.asarray(out)[real], want[real], atol=1e-5)


@pytest.mark.parametrize("window", [1, 40, 200])
def test_sliding_window_matches_float64_reference(window):
    """Windows inside one query block, across blocks, and longer than a block; blocked (keys from
    the window's start) and unblocked (a KV cache's view) give the same rows."""
    q, k, v, pos = long_inputs(seed=7)
    real = pos >= 0
    want = reference_attention(q, k, v, pos, pos, np.zeros((1, 4, 300, 300)), window)[real]
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


@pytest.mark.slow
@pytest.mark.parametrize("bias_batch", [1, 2])
def test_hand_written_backward_matches_autodiff(bias_batch):
    """Gradients of the blocked attention (its own backward pass, which recomputes each block's
    scores and bias) against autodiff of a plain float32 formula, for q, k, v and the table the bias
    is read from; tolerance 1e-4 for float32 sums of 300 terms."""
    q, k, v, pos = long_inputs(seed=4)
    table = np.random.default_rng(5).normal(size=(bias_batch, 4, 300, 300)).astype(np.float32)
    d_out = np.random.default_rng(6).normal(size=q.shape).astype(np.float32)
    d_out[pos < 0] = 0  # padding queries are unused (their loss is masked), so they get no gradient

    def plain(q, k, v, table):
        kk, vv = jnp.repeat(k, 2, axis=2), jnp.repeat(v, 2, axis=2)
        logits = jnp.einsum("bthd,bshd->bhts", q, kk) / np.sqrt(8.0) + table_bias(table).whole(pos, pos)
        visible = (pos[:, None, None, :] >= 0) & (pos[:, None, None, :] <= pos[:, None, :, None])
        probs = jax.nn.softmax(jnp.where(visible, logits, -1e30), axis=-1)
        return jnp.einsum("bhts,bshd->bthd", probs, vv)

    def ours(q, k, v, table):
        return attention(q, k, v, q_positions=pos, k_positions=pos, bias=table_bias(table), causal_slots=True)[0]

    def grads(fn):
        return jax.jit(jax.grad(lambda *args: jnp.sum(fn(*args) * d_out), argnums=(0, 1, 2, 3)))(q, k, v, table)

    for name, got, want in zip("q k v table".split(), grads(ours), grads(plain), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-4, err_msg=name)
