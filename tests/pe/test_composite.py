"""A composite PE: each hook is its part's, each part gets only its own options, and the inputs and
the BOS rule follow from both parts."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from mathpe_jax.pe import PEDims
from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.composite import Composite
from mathpe_jax.pe.nope import NoPE
from mathpe_jax.pe.rope import RoPE
from mathpe_jax.pe.sinusoidal import Sinusoidal
from tests.pe.helpers import positions

DIMS = PEDims(width=32, num_heads=4, head_dim=8, num_layers=2, max_len=64)


class SinusoidalRoPE(Composite):
    parts = (("sinusoidal", Sinusoidal), ("rope", RoPE))


class AbacusNoPE(Composite):
    parts = (("abacus", Abacus), ("nope", NoPE))


def test_embed_is_the_first_parts_and_rotate_and_bias_the_seconds():
    pe = SinusoidalRoPE(DIMS, rngs=nnx.Rngs(0), fraction=0.5)
    x = np.random.default_rng(0).normal(size=(2, 6, 32)).astype(np.float32)
    q = np.random.default_rng(1).normal(size=(2, 6, 4, 8)).astype(np.float32)
    k = np.random.default_rng(2).normal(size=(2, 6, 2, 8)).astype(np.float32)
    pos = positions(2, 6, offset=3)
    alone_sin, alone_rope = Sinusoidal(DIMS, rngs=nnx.Rngs(0)), RoPE(DIMS, rngs=nnx.Rngs(0), fraction=0.5)
    np.testing.assert_array_equal(pe.embed(x, pos), alone_sin.embed(x, pos))
    for got, want in zip(pe.rotate(q, k, pos, 1), alone_rope.rotate(q, k, pos, 1)):
        np.testing.assert_array_equal(got, want)
    full = RoPE(DIMS, rngs=nnx.Rngs(0)).rotate(q, k, pos, 1)[0]
    assert not np.allclose(pe.rotate(q, k, pos, 1)[0], full)  # ``fraction`` reached RoPE
    assert pe.bias(pos, pos, 0) is None


def test_options_inputs_and_bos_follow_from_the_parts():
    assert SinusoidalRoPE.option_names() == Sinusoidal.option_names() | RoPE.option_names()
    assert SinusoidalRoPE.inputs == () and not SinusoidalRoPE.requires_bos  # RoPE gives attention positions
    assert AbacusNoPE.inputs == ("digit_index",) and AbacusNoPE.requires_bos  # neither part does
    with pytest.raises(TypeError, match="AbacusNoPE got an unexpected option 'fraction'"):
        AbacusNoPE(DIMS, rngs=nnx.Rngs(0), fraction=0.5)
