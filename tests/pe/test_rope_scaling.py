"""RoPE frequency scaling (linear, llama3): the options converted Llama 3.x checkpoints need."""

import math

import numpy as np
import pytest

from mathpe_jax.pe.rope import rope_inv_freq
from tests.pe.helpers import make_pe, positions


def unscaled(rotary_dim: int, base: float) -> np.ndarray:
    return base ** (-np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)


def llama3_reference(inv, factor, low, high, original):
    """Llama 3.1's rule, one frequency at a time, in float64."""
    out = []
    for f in inv:
        wavelen = 2 * math.pi / f
        if wavelen < original / high:
            out.append(f)
        elif wavelen > original / low:
            out.append(f / factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.asarray(out)


def test_linear_divides_every_frequency():
    got = rope_inv_freq(16, 10000.0, scaling="linear", factor=4.0)
    np.testing.assert_allclose(np.asarray(got), unscaled(16, 10000.0) / 4.0, rtol=1e-6)


def test_llama3_keeps_high_divides_low_and_blends_between():
    options = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_len": 64}
    got = np.asarray(rope_inv_freq(16, 10000.0, scaling="llama3", **options))
    expected = llama3_reference(unscaled(16, 10000.0), 8.0, 1.0, 4.0, 64)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    wavelen = 2 * math.pi / unscaled(16, 10000.0)
    assert (wavelen < 16).any() and (wavelen > 64).any() and ((wavelen >= 16) & (wavelen <= 64)).any()


def test_default_options_leave_rotation_unchanged():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(1, 40, 4, 8)).astype(np.float32)
    plain = make_pe("rope").rotate(q, q, positions(1, 40), 0)
    explicit = make_pe("rope", scaling="none", factor=1.0).rotate(q, q, positions(1, 40), 0)
    np.testing.assert_array_equal(np.asarray(plain[0]), np.asarray(explicit[0]))


@pytest.mark.parametrize(
    "options, culprit",
    [
        ({"scaling": "yarn"}, "model.pe.scaling"),
        ({"scaling": "linear", "factor": 0.0}, "model.pe.factor"),
        ({"scaling": "llama3", "low_freq_factor": 4.0, "high_freq_factor": 1.0}, "low_freq_factor < high_freq_factor"),
    ],
)
def test_bad_scaling_is_one_line(options, culprit):
    with pytest.raises(ValueError, match=culprit) as err:
        make_pe("rope", **options)
    assert "\n" not in str(err.value)
