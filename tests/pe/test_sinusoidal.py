import numpy as np

from tests.pe.helpers import make_pe, positions


def reference(pos: np.ndarray, width: int) -> np.ndarray:
    """Vaswani et al.: PE[p, k] = sin(p / 10000^(2k/D)), PE[p, D/2 + k] = cos(same), float64."""
    k = np.arange(width // 2, dtype=np.float64)
    angles = pos[..., None].astype(np.float64) / 10000.0 ** (2 * k / width)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)


def test_values_match_the_formula():
    # float32 sin/cos of angles up to ~500 rad: absolute error ~ 500 * 2^-24 ~ 3e-5.
    pe = make_pe("sinusoidal", width=32)
    pos = positions(2, 512)
    out = np.asarray(pe.embed(np.zeros((2, 512, 32), np.float32), pos))
    np.testing.assert_allclose(out, reference(pos, 32), atol=1e-4)


def test_halves_are_concatenated_not_interleaved():
    pe = make_pe("sinusoidal", width=8)
    out = np.asarray(pe.embed(np.zeros((1, 1, 8), np.float32), np.zeros((1, 1), np.int32)))
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0, 0, 1, 1, 1, 1])


def test_has_no_parameters_and_no_bias():
    pe = make_pe("sinusoidal")
    assert pe.bias(positions(1, 3), positions(1, 3), 0) is None
    from flax import nnx

    assert not nnx.state(pe, nnx.Param)
