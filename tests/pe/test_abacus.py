"""Abacus embeddings (McLeish et al. 2024): table rows by digit place, the training offset, coverage."""

import jax.numpy as jnp
import numpy as np
import pytest

from tests.pe.helpers import make_pe, positions

#: A digit index as the decoder computes it: 0 for non-digits, places from 1 within each number.
INDEX = np.array([[0, 1, 2, 3, 0, 1, 2, 0, 1, 0], [0, 1, 0, 1, 2, 3, 4, 5, 0, 0]], np.int32)


def test_each_token_gets_the_row_of_its_place_added():
    pe = make_pe("abacus", max_offset=3, width=32, max_len=16)
    x = np.random.default_rng(0).normal(size=(2, 10, 32)).astype(np.float32)
    got = np.asarray(pe.embed(jnp.asarray(x), positions(2, 10), digit_index=jnp.asarray(INDEX)))
    table = np.asarray(pe.table[...], np.float64)
    np.testing.assert_allclose(got, x.astype(np.float64) + table[INDEX], atol=1e-6)  # one float32 add


def test_the_table_covers_the_context_plus_the_largest_offset():
    pe = make_pe("abacus", max_offset=7, max_len=16)
    assert pe.table[...].shape == (16 + 7 + 1, 32)


def test_training_shifts_every_digit_by_one_offset_per_batch_and_evaluation_by_none():
    pe = make_pe("abacus", max_offset=50, width=32, max_len=16)
    table = np.asarray(pe.table[...])
    x = np.zeros((2, 10, 32), np.float32)
    plain = np.asarray(pe.embed(jnp.asarray(x), positions(2, 10), digit_index=jnp.asarray(INDEX)))
    np.testing.assert_array_equal(plain, table[INDEX])
    pe.deterministic = False
    offsets = set()
    for _ in range(8):
        out = np.asarray(pe.embed(jnp.asarray(x), positions(2, 10), digit_index=jnp.asarray(INDEX)))
        rows = np.argmin(((out[..., None, :] - table[None, None]) ** 2).sum(-1), axis=-1)
        assert np.all(rows[INDEX == 0] == 0)  # non-digits keep row 0
        shift = rows[INDEX > 0] - INDEX[INDEX > 0]
        assert len(set(shift.tolist())) == 1 and 0 <= shift[0] <= 50  # one k for the whole batch
        offsets.add(int(shift[0]))
    assert len(offsets) > 1  # the stream advances: each call draws again


def test_offsets_per_example_shift_each_sequence_by_its_own_draw():
    pe = make_pe("abacus", max_offset=50, width=32, max_len=16, offset_per="example")
    table = np.asarray(pe.table[...])
    pe.deterministic = False
    index = np.tile(INDEX, (4, 1))  # 8 sequences
    x = np.zeros((8, 10, 32), np.float32)
    out = np.asarray(pe.embed(jnp.asarray(x), positions(8, 10), digit_index=jnp.asarray(index)))
    rows = np.argmin(((out[..., None, :] - table[None, None]) ** 2).sum(-1), axis=-1)
    assert np.all(rows[index == 0] == 0)
    shifts = []
    for row, idx in zip(rows, index):
        shift = set((row[idx > 0] - idx[idx > 0]).tolist())
        assert len(shift) == 1 and 0 <= min(shift) <= 50  # one k within a sequence
        shifts.append(shift.pop())
    assert len(set(shifts)) > 1  # different sequences, different offsets


def test_bad_offset_names_the_option():
    with pytest.raises(ValueError, match="model.pe.max_offset must be >= 0, got -1"):
        make_pe("abacus", max_offset=-1)
    with pytest.raises(ValueError, match="model.pe.offset_per must be one of batch, example, got 'token'"):
        make_pe("abacus", offset_per="token")


def test_coverage_names_places_training_cannot_reach():
    pe = make_pe("abacus", max_offset=5, max_len=64)
    report = pe.coverage(trained=20, evaluated=40)
    assert report["learned"] and report["unit"] == "place"
    assert report["untrained"] == list(range(26, 41))
    assert make_pe("abacus", max_offset=30, max_len=64).coverage(20, 40)["untrained"] == []


def test_it_reads_the_digit_index_and_needs_bos():
    pe = make_pe("abacus")
    assert pe.inputs == ("digit_index",) and pe.requires_bos
