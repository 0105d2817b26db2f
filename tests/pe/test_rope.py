import numpy as np
import pytest

from tests.pe.helpers import make_pe, positions


def reference(x: np.ndarray, pos: np.ndarray, rotary_dim: int, base: float) -> np.ndarray:
    """Rotate-half RoPE in float64: x*cos + rotate_half(x)*sin on the first rotary_dim dims."""
    inv = base ** (-np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    ang = pos[..., None].astype(np.float64) * inv
    emb = np.concatenate([ang, ang], -1)[:, :, None, :]
    xr = x[..., :rotary_dim].astype(np.float64)
    half = rotary_dim // 2
    rot = np.concatenate([-xr[..., half:], xr[..., :half]], -1)
    return np.concatenate([xr * np.cos(emb) + rot * np.sin(emb), x[..., rotary_dim:]], -1)


@pytest.mark.parametrize("fraction,base", [(1.0, 10000.0), (0.5, 10000.0), (1.0, 500000.0)])
def test_matches_rotate_half_formula(fraction, base):
    # Positions up to 300 in float32: angle error ~ 300 * 2^-24; values are O(1), so 1e-4 absolute.
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 300, 4, 16)).astype(np.float32)
    k = rng.normal(size=(2, 300, 2, 16)).astype(np.float32)
    pos = positions(2, 300)
    pe = make_pe("rope", head_dim=16, fraction=fraction, base=base)
    q2, k2 = pe.rotate(q, k, pos, 0)
    rot = int(16 * fraction)
    np.testing.assert_allclose(np.asarray(q2), reference(q, pos, rot, base), atol=1e-4)
    np.testing.assert_allclose(np.asarray(k2), reference(k, pos, rot, base), atol=1e-4)


def test_identity_at_position_zero_and_relative_scores():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(1, 1, 1, 8)).astype(np.float32)
    k = rng.normal(size=(1, 1, 1, 8)).astype(np.float32)
    pe = make_pe("rope", head_dim=8)
    q0, k0 = pe.rotate(q, k, np.zeros((1, 1), np.int32), 0)
    np.testing.assert_allclose(np.asarray(q0), q, atol=1e-6)
    # q.k depends only on the offset: (5, 2) and (13, 10) give the same score.
    scores = []
    for i, j in [(5, 2), (13, 10)]:
        qi, _ = pe.rotate(q, k, np.full((1, 1), i, np.int32), 0)
        _, kj = pe.rotate(q, k, np.full((1, 1), j, np.int32), 0)
        scores.append(float(np.sum(np.asarray(qi) * np.asarray(kj))))
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)


def test_bf16_inputs_use_float32_angles():
    import jax.numpy as jnp

    q = jnp.ones((1, 1, 1, 8), jnp.bfloat16)
    pe = make_pe("rope", head_dim=8)
    q2, _ = pe.rotate(q, q, np.full((1, 1), 1000, np.int32), 0)
    assert q2.dtype == jnp.bfloat16
    expected = reference(np.ones((1, 1, 1, 8)), np.full((1, 1), 1000), 8, 10000.0)
    np.testing.assert_allclose(np.asarray(q2, np.float32), expected, atol=2e-2)  # bf16 output rounding


@pytest.mark.parametrize("fraction", [0.0, 0.1, 1.5])
def test_bad_fraction_is_rejected(fraction):
    with pytest.raises(ValueError, match="fraction"):
        make_pe("rope", head_dim=8, fraction=fraction)


def test_tables_are_exactly_cos_and_sin_of_float32_angles():
    """The 0/1 matrix product that spreads each frequency over its two dims adds no rounding."""
    import jax.numpy as jnp

    from mathpe_jax.pe.rope import rope_cos_sin, rope_inv_freq

    pos = np.random.default_rng(2).integers(-1, 100_000, size=(2, 300)).astype(np.int32)
    cos, sin = rope_cos_sin(pos, 64, 10000.0)
    angles = pos.astype(np.float32)[..., None] * np.asarray(rope_inv_freq(64, 10000.0))
    emb = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
    np.testing.assert_array_equal(np.asarray(cos), np.asarray(jnp.cos(emb)))
    np.testing.assert_array_equal(np.asarray(sin), np.asarray(jnp.sin(emb)))
