"""RoPE frequency scaling (linear, llama3, yarn, ntk, dynamic) against float64 NumPy formulas.

Frequencies are computed in float32, so they are compared with rtol 1e-6 (a few float32 ulps).
"""

import math

import jax
import numpy as np
import pytest

from mathpe_jax.pe.rope import rope_inv_freq, yarn_attention_factor
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


def yarn_reference(rotary_dim, base, factor, original, beta_fast, beta_slow, truncate):
    """YaRN's NTK-by-parts frequencies as transformers computes them, in float64."""

    def index_turning(turns):
        return rotary_dim * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(base))

    low, high = index_turning(beta_fast), index_turning(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rotary_dim - 1)
    ramp = np.clip((np.arange(rotary_dim // 2) - low) / (high - low), 0, 1)
    inv = unscaled(rotary_dim, base)
    return inv / factor * ramp + inv * (1 - ramp)


def ntk_reference(rotary_dim, base, factor):
    return unscaled(rotary_dim, base * factor ** (rotary_dim / (rotary_dim - 2)))


def dynamic_reference(rotary_dim, base, factor, original, seq_len):
    """transformers' dynamic NTK rule in float64: the original frequencies up to ``original``."""
    if seq_len <= original:
        return unscaled(rotary_dim, base)
    return ntk_reference(rotary_dim, base, factor * seq_len / original - (factor - 1))


def rotated_reference(x, pos, inv_freq, scale=1.0):
    """Rotate-half RoPE of ``x [B, T, H, d]`` at ``pos [B, T]`` in float64."""
    angles = pos[..., None, None].astype(np.float64) * np.concatenate([inv_freq, inv_freq])
    x1, x2 = np.split(x.astype(np.float64), 2, axis=-1)
    return scale * (x * np.cos(angles) + np.concatenate([-x2, x1], axis=-1) * np.sin(angles))


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


@pytest.mark.parametrize("truncate", [True, False])
def test_yarn_blends_between_the_correction_range(truncate):
    options = {"factor": 4.0, "original_max_len": 64, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": truncate}
    got = np.asarray(rope_inv_freq(32, 10000.0, scaling="yarn", **options))
    expected = yarn_reference(32, 10000.0, 4.0, 64, 32.0, 1.0, truncate)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    ratio = unscaled(32, 10000.0) / expected
    assert ratio[0] == pytest.approx(1.0) and ratio[-1] == pytest.approx(4.0)  # kept ... interpolated
    assert ((ratio > 1.01) & (ratio < 3.99)).any()  # the ramp is inside the 16 frequencies


def test_yarn_attention_factor_follows_transformers():
    assert yarn_attention_factor(4.0) == pytest.approx(0.1 * math.log(4.0) + 1.0)
    assert yarn_attention_factor(4.0, attention_factor=1.5) == 1.5
    assert yarn_attention_factor(4.0, mscale=0.707, mscale_all_dim=1.0) == pytest.approx(
        (0.1 * 0.707 * math.log(4.0) + 1.0) / (0.1 * math.log(4.0) + 1.0)
    )
    assert yarn_attention_factor(4.0, mscale=0.707) == pytest.approx(0.1 * math.log(4.0) + 1.0)  # needs both
    assert yarn_attention_factor(0.5) == 1.0


def test_yarn_scales_cos_and_sin_by_the_attention_factor():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(1, 40, 4, 8)).astype(np.float32)
    pe = make_pe("rope", scaling="yarn", factor=4.0, original_max_len=16)
    got = np.asarray(pe.rotate(q, q, positions(1, 40), 0)[0])
    inv = yarn_reference(8, 10000.0, 4.0, 16, 32.0, 1.0, True)
    expected = rotated_reference(q, positions(1, 40), inv, 0.1 * math.log(4.0) + 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_ntk_raises_the_base():
    got = np.asarray(rope_inv_freq(16, 10000.0, scaling="ntk", factor=8.0))
    np.testing.assert_allclose(got, ntk_reference(16, 10000.0, 8.0), rtol=1e-6)
    assert got[0] == 1.0 and got[-1] == pytest.approx(unscaled(16, 10000.0)[-1] / 8.0, rel=1e-6)  # lowest / factor


@pytest.mark.parametrize("seq_len", [10, 64, 65, 200])
def test_dynamic_changes_the_base_only_past_the_original_context(seq_len):
    got = np.asarray(rope_inv_freq(16, 10000.0, scaling="dynamic", factor=4.0, original_max_len=64, seq_len=seq_len))
    np.testing.assert_allclose(got, dynamic_reference(16, 10000.0, 4.0, 64, seq_len), rtol=1e-6)
    if seq_len <= 64:
        np.testing.assert_array_equal(got, np.asarray(rope_inv_freq(16, 10000.0)))


@pytest.mark.parametrize("length", [20, 80])
def test_dynamic_rotation_takes_seq_len_from_the_positions_under_jit(length):
    """The largest position over the batch sets the base; padding (negative) positions do not."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=(2, length, 4, 8)).astype(np.float32)
    pos = positions(2, length)
    pos[1, :5] = -1  # a padded row
    pos[1, 5:] -= 5
    pe = make_pe("rope", scaling="dynamic", factor=4.0, original_max_len=32)
    got = np.asarray(jax.jit(lambda x, p: pe.rotate(x, x, p, 0)[0])(q, pos))
    expected = rotated_reference(q, pos, dynamic_reference(8, 10000.0, 4.0, 32, length))
    real = pos >= 0
    np.testing.assert_allclose(got[real], expected[real], rtol=0, atol=1e-5)


def test_default_options_leave_rotation_unchanged():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(1, 40, 4, 8)).astype(np.float32)
    plain = make_pe("rope").rotate(q, q, positions(1, 40), 0)
    explicit = make_pe("rope", scaling="none", factor=1.0).rotate(q, q, positions(1, 40), 0)
    np.testing.assert_array_equal(np.asarray(plain[0]), np.asarray(explicit[0]))


@pytest.mark.parametrize(
    "options, culprit",
    [
        ({"scaling": "xpos-scaling"}, "model.pe.scaling"),
        ({"scaling": "linear", "factor": 0.0}, "model.pe.factor"),
        ({"scaling": "llama3", "low_freq_factor": 4.0, "high_freq_factor": 1.0}, "low_freq_factor < high_freq_factor"),
        ({"scaling": "yarn", "beta_fast": 1.0, "beta_slow": 32.0}, "beta_slow <= beta_fast"),
        ({"scaling": "yarn", "beta_slow": 0.0}, "beta_slow <= beta_fast"),
        ({"scaling": "yarn", "attention_factor": -1.0}, "model.pe.attention_factor"),
        ({"scaling": "yarn", "mscale": -1.0}, "model.pe.mscale"),
        ({"scaling": "yarn", "mscale_all_dim": -1.0}, "model.pe.mscale_all_dim"),
        ({"scaling": "yarn", "truncate": "yes"}, "model.pe.truncate"),
        ({"scaling": "dynamic", "original_max_len": 0}, "model.pe.original_max_len"),
        ({"scaling": "ntk", "factor": 2.0, "fraction": 0.25}, "more than 2 rotary dims"),
    ],
)
def test_bad_scaling_is_one_line(options, culprit):
    with pytest.raises(ValueError, match=culprit) as err:
        make_pe("rope", **options)
    assert "\n" not in str(err.value)
