import numpy as np
import pytest

from mathpe_jax.pe.alibi import alibi_slopes
from tests.pe.helpers import make_pe, positions

# Press et al.: powers of two start at 2^(-8/n); others take the nearest lower power of two and
# every other slope of the next one. Written out by hand from the paper's rule.
EXPECTED = {
    8: [2.0 ** -(i + 1) for i in range(8)],
    6: [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3],
    12: [2.0 ** -(i + 1) for i in range(8)] + [2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5],
}


@pytest.mark.parametrize("heads", [6, 8, 12])
def test_slopes(heads):
    np.testing.assert_allclose(alibi_slopes(heads), EXPECTED[heads], rtol=1e-6)


def test_bias_is_minus_slope_times_distance():
    pe = make_pe("alibi", heads=6)
    qp, kp = positions(2, 5, offset=3), positions(2, 9)
    bias = np.asarray(pe.bias(qp, kp, 0))
    distance = (qp[:, :, None] - kp[:, None, :]).astype(np.float64)
    expected = -np.asarray(EXPECTED[6])[None, :, None, None] * distance[:, None]
    np.testing.assert_allclose(bias, expected, rtol=1e-6)
    assert bias.shape == (2, 6, 5, 9)
