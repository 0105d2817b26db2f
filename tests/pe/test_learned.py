import numpy as np
import pytest
from flax import nnx

from mathpe_jax.pe import PEDims, build_pe
from tests.pe.helpers import make_pe, positions


def with_option(max_len: int):
    """A table sized by the PE's own ``max_len`` option, not the model's (64)."""
    dims = PEDims(width=16, num_heads=2, head_dim=8, num_layers=2, max_len=64)
    return build_pe("learned", dims, {"max_len": max_len}, nnx.Rngs(0))


def test_embed_adds_the_row_of_each_position():
    pe = make_pe("learned", width=16, max_len=32)
    table = np.asarray(pe.table[...])
    assert table.shape == (32, 16) and 0.01 < table.std() < 0.03
    x = np.random.default_rng(0).normal(size=(2, 9, 16)).astype(np.float32)
    qp = positions(2, 9, offset=4)
    np.testing.assert_allclose(np.asarray(pe.embed(x, qp)), x + table[qp], rtol=1e-6, atol=1e-6)


def test_positions_past_the_table_reuse_its_last_row_and_padding_row_zero():
    pe = with_option(8)
    table = np.asarray(pe.table[...])
    assert table.shape == (8, 16)
    x = np.zeros((1, 3, 16), np.float32)
    out = np.asarray(pe.embed(x, np.array([[-1, 7, 50]], np.int32)))
    np.testing.assert_array_equal(out[0], table[[0, 7, 7]])


def test_coverage_names_the_rows_training_never_reached():
    coverage = make_pe("learned", max_len=48).coverage(23, 60)
    assert coverage["learned"] and coverage["unit"] == "row"
    assert coverage["untrained"] == list(range(23, 48)) and "reuse row 47" in coverage["summary"]


def test_a_negative_max_len_is_named():
    with pytest.raises(ValueError, match="model.pe.max_len must be >= 0"):
        with_option(-1)
