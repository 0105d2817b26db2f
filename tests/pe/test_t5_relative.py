import math

import numpy as np

from mathpe_jax.pe.t5_relative import causal_bucket
from tests.pe.helpers import make_pe, positions


def reference_bucket(n: int, num_buckets: int = 32, max_distance: int = 128) -> int:
    """Raffel et al.'s causal bucketing, float64."""
    n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact))
    return min(large, num_buckets - 1)


def test_bucket_ids_for_distances_0_to_200():
    distances = np.arange(0, 201)
    got = np.asarray(causal_bucket(distances, 32, 128))
    np.testing.assert_array_equal(got, [reference_bucket(int(n)) for n in distances])
    assert list(got[:16]) == list(range(16))  # exact distances
    assert set(got[113:]) == {31}  # everything from 113 on shares the last bucket


def test_negative_distances_fall_in_bucket_zero():
    assert np.asarray(causal_bucket(np.array([-5, -1]), 32, 128)).tolist() == [0, 0]


def test_bias_reads_one_table_shared_by_layers():
    pe = make_pe("t5", heads=4)
    table = np.asarray(pe.table[...])
    assert table.shape == (32, 4)
    qp, kp = positions(1, 6, offset=140), positions(1, 146)
    b0, b3 = np.asarray(pe.bias(qp, kp, 0)), np.asarray(pe.bias(qp, kp, 3))
    np.testing.assert_array_equal(b0, b3)
    distance = qp[0, :, None] - kp[0, None, :]
    expected = table[np.vectorize(reference_bucket)(distance)].transpose(2, 0, 1)
    np.testing.assert_allclose(b0[0], expected, rtol=1e-6)
