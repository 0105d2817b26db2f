import jax
import numpy as np
import pytest
from flax import nnx

from tests.pe.helpers import make_pe, positions


def test_abs_adds_pq_pk_product_shared_by_layers():
    pe = make_pe("diet", heads=4, layers=3, variant="abs", rank=5, max_len=32)
    p_q, p_k = np.asarray(pe.p_q[...], np.float64), np.asarray(pe.p_k[...], np.float64)
    assert p_q.shape == p_k.shape == (1, 4, 32, 5)
    qp, kp = positions(2, 7, offset=3), positions(2, 10)
    bias = np.asarray(pe.bias(qp, kp, 0))
    expected = np.einsum("htr,hsr->hts", p_q[0][:, qp[0]], p_k[0][:, kp[0]])
    np.testing.assert_allclose(bias[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bias, np.asarray(pe.bias(qp, kp, 2)))


@pytest.mark.parametrize("shared, tables", [(True, 1), (False, 3)])
def test_abs_share_across_layers_sets_the_number_of_tables(shared, tables):
    pe = make_pe("diet", heads=4, layers=3, variant="abs", rank=5, max_len=32, share_across_layers=shared)
    assert pe.p_q[...].shape == pe.p_k[...].shape == (tables, 4, 32, 5)
    assert param_count(pe) == 2 * tables * 4 * 32 * 5


def test_abs_per_layer_tables_give_each_layer_its_own_bias():
    pe = make_pe("diet", heads=4, layers=3, variant="abs", rank=5, max_len=32, share_across_layers=False)
    p_q, p_k = np.asarray(pe.p_q[...], np.float64), np.asarray(pe.p_k[...], np.float64)
    qp, kp = positions(1, 7, offset=3), positions(1, 10)
    for layer in range(3):
        expected = np.einsum("htr,hsr->hts", p_q[layer][:, qp[0]], p_k[layer][:, kp[0]])
        np.testing.assert_allclose(np.asarray(pe.bias(qp, kp, layer))[0], expected, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(np.asarray(pe.bias(qp, kp, 0)), np.asarray(pe.bias(qp, kp, 1)))


def test_abs_clips_positions_beyond_the_table():
    pe = make_pe("diet", variant="abs", max_len=8)
    far = np.asarray(pe.bias(np.full((1, 1), 50, np.int32), np.full((1, 1), 60, np.int32), 0))
    last = np.asarray(pe.bias(np.full((1, 1), 7, np.int32), np.full((1, 1), 7, np.int32), 0))
    np.testing.assert_array_equal(far, last)


def test_rel_has_one_table_per_layer_and_clips_distance():
    pe = make_pe("diet", heads=4, layers=3, variant="rel", max_distance=6)
    rel = np.asarray(pe.rel[...])
    assert rel.shape == (3, 4, 7)
    pe.rel[...] = np.random.default_rng(0).normal(size=rel.shape).astype(np.float32)
    rel = np.asarray(pe.rel[...])
    qp, kp = positions(1, 12), positions(1, 12)
    for layer in range(3):
        bias = np.asarray(pe.bias(qp, kp, layer))[0]
        distance = np.clip(qp[0, :, None] - kp[0, None, :], 0, 6)
        np.testing.assert_array_equal(bias, rel[layer][:, distance])
    assert not np.array_equal(np.asarray(pe.bias(qp, kp, 0)), np.asarray(pe.bias(qp, kp, 1)))


def test_rel_shared_keeps_one_table():
    pe = make_pe("diet", layers=3, variant="rel", share_across_layers=True)
    assert pe.rel[...].shape[0] == 1
    assert param_count(pe) == pe.rel[...].size


def param_count(module: nnx.Module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        make_pe("diet", variant="both")
