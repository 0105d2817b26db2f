"""FIRE against a float64 NumPy transcription of the paper's formula (Li et al. 2023):
b(i, j) = f(psi(i - j) / psi(max(i, L))), psi(x) = log(c x + 1), f a ReLU MLP, with the module's own
parameters. Tolerance 1e-5: the module runs in float32 (relative error ~1e-7 per operation over a
handful of operations and a 32-term sum, on values of order one) and adds a 1e-6 epsilon to the
normaliser, which the formula has not."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.pe.helpers import make_pe, positions


def params(pe, table: int) -> dict[str, np.ndarray]:
    return {name: np.asarray(getattr(pe, name)[...], np.float64)[table]
            for name in ("c", "threshold_scale", "w1", "b1", "w2")}


def reference_bias(p: dict, init_threshold: float, qp: np.ndarray, kp: np.ndarray) -> np.ndarray:
    """``[H, T, S]`` for one row of positions, in float64."""
    c, threshold = abs(p["c"]), abs(p["threshold_scale"]) * init_threshold
    i, j = qp.astype(np.float64)[:, None], kp.astype(np.float64)[None, :]
    x = np.log(c * np.maximum(i - j, 0) + 1) / np.log(c * np.maximum(i, threshold) + 1)
    h = np.maximum(x[..., None] * p["w1"] + p["b1"], 0)
    return np.einsum("tsk,kh->hts", h, p["w2"])


def randomise(pe, seed: int = 0) -> None:
    """Moves c and L off their inits (and apart per layer) so the test sees the parameters used."""
    rng = np.random.default_rng(seed)
    pe.c[...] = jnp.asarray(rng.uniform(0.05, 0.5, pe.c[...].shape), jnp.float32)
    pe.threshold_scale[...] = jnp.asarray(rng.uniform(0.5, 1.5, pe.threshold_scale[...].shape), jnp.float32)


def test_bias_matches_the_papers_formula_per_layer():
    pe = make_pe("fire", heads=4, layers=3, init_threshold=12.0)
    randomise(pe)
    qp, kp = positions(2, 30, offset=5), positions(2, 35)
    for layer in range(3):
        bias = np.asarray(pe.bias(qp, kp, layer))
        assert bias.shape == (2, 4, 30, 35) and bias.dtype == np.float32
        expected = reference_bias(params(pe, layer), 12.0, qp[0], kp[0])
        np.testing.assert_allclose(bias[0], expected, rtol=1e-5, atol=1e-5)


def test_layers_own_their_fire_unless_shared():
    own = make_pe("fire", heads=4, layers=3, hidden=16)
    assert own.w2[...].shape == (3, 16, 4) and own.c[...].shape == (3,)
    qp = positions(1, 10)
    assert not np.allclose(np.asarray(own.bias(qp, qp, 0)), np.asarray(own.bias(qp, qp, 1)))
    shared = make_pe("fire", heads=4, layers=3, share_across_layers=True)
    assert shared.w1[...].shape == (1, 32)
    np.testing.assert_array_equal(np.asarray(shared.bias(qp, qp, 0)), np.asarray(shared.bias(qp, qp, 2)))


def test_a_traced_layer_index_reads_that_layers_table():
    pe = make_pe("fire", layers=3)
    qp = positions(1, 6)
    traced = jax.jit(lambda layer: pe.bias(qp, qp, layer))(jnp.int32(2))
    np.testing.assert_allclose(np.asarray(traced), np.asarray(pe.bias(qp, qp, 2)), rtol=1e-6, atol=1e-6)


def test_below_l_the_normaliser_is_psi_l_and_beyond_it_the_query_position():
    pe = make_pe("fire", layers=1, init_threshold=10.0)
    qp, kp = positions(1, 40), positions(1, 40)
    bias = np.asarray(pe.bias(qp, kp, 0))[0]  # [H, T, S]
    distance = 3
    below = [bias[:, i, i - distance] for i in range(distance, 11)]  # i <= L: psi(3) / psi(10)
    for value in below[1:]:
        np.testing.assert_allclose(value, below[0], rtol=1e-6, atol=1e-6)
    beyond = np.stack([bias[:, i, i - distance] for i in range(11, 40)])  # psi(3) / psi(i): shrinking
    assert np.all(np.abs(np.diff(beyond, axis=0)).max(axis=1) > 0)
    np.testing.assert_allclose(bias, reference_bias(params(pe, 0), 10.0, qp[0], kp[0]), rtol=1e-5, atol=1e-5)


def test_padding_positions_give_finite_values_and_gradients():
    pe = make_pe("fire", layers=2, init_threshold=4.0)
    qp = np.concatenate([np.full((2, 3), -1, np.int32), positions(2, 7)], axis=1)
    assert np.all(np.isfinite(np.asarray(pe.bias(qp, qp, 1))))
    graphdef, state = nnx.split(pe)
    grads = jax.jit(jax.grad(lambda s: nnx.merge(graphdef, s).bias(qp, qp, 1).sum()))(state)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


def test_gradients_reach_c_l_and_the_mlp():
    pe = make_pe("fire", layers=1, init_threshold=8.0)
    qp = positions(1, 20)  # queries on both sides of L = 8
    graphdef, state = nnx.split(pe)
    grads = jax.jit(jax.grad(lambda s: jnp.sum(jnp.tanh(nnx.merge(graphdef, s).bias(qp, qp, 0)))))(state)
    flat = {path[-1]: np.asarray(g[...]) for path, g in nnx.to_flat_state(grads)}
    assert set(flat) == {"c", "threshold_scale", "w1", "b1", "w2"}
    for name, grad in flat.items():
        assert np.any(grad != 0), name


def test_coverage_interpolates_once_training_reaches_l():
    inside = make_pe("fire", init_threshold=16.0).coverage(40, 200)
    assert inside["learned"] and inside["untrained"] == [] and "interpolates" in inside["summary"]
    beyond = make_pe("fire", init_threshold=512.0).coverage(40, 60)
    assert beyond["unit"] == "distance" and beyond["untrained"] == list(range(40, 60))
    assert "L=512" in beyond["summary"]


@pytest.mark.parametrize(("option", "value"), [("hidden", 0), ("init_c", 0.0), ("init_threshold", -1.0)])
def test_bad_options_are_named(option, value):
    with pytest.raises(ValueError, match=rf"model.pe.{option} must be"):
        make_pe("fire", **{option: value})
