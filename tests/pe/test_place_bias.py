"""The place bias: a learned logit per clipped difference of digit places, against a plain Python
reading of its definition; its wiring into a decoder (which queries it changes); and Abacus +
place bias as the two parts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from mathpe_jax.pe import pe_options
from mathpe_jax.pe.place_bias import HIDDEN
from tests.model.helpers import jit_forward, tiny_model
from tests.pe.helpers import make_pe, positions
from tests.pe.test_abacus import INDEX


def reference_bias(table: np.ndarray, q_places, k_places, max_distance: int) -> np.ndarray:
    """``[H, T, S]``: the table's row for each pair, bucket by bucket as defined (key place minus
    query place clipped to ``±max_distance``; a non-digit key, place 0, reads the last row)."""
    out = np.zeros((table.shape[1], len(q_places), len(k_places)))
    for i, q in enumerate(q_places):
        for j, k in enumerate(k_places):
            bucket = 2 * max_distance + 1 if k == 0 else max(-max_distance, min(max_distance, k - q)) + max_distance
            out[:, i, j] = table[bucket]
    return out


def randomised(name: str, **options):
    pe = make_pe(name, layers=3, **options)
    part = pe.place_bias if name == "abacus_place" else pe
    part.table[...] = jnp.asarray(np.random.default_rng(0).normal(size=part.table[...].shape), jnp.float32)
    return pe, np.asarray(part.table[...])


@pytest.mark.parametrize("name", ["place_bias", "abacus_place"])
def test_each_pair_reads_the_row_of_its_clipped_place_difference(name):
    pe, table = randomised(name, max_distance=3)
    places = jnp.asarray(INDEX)  # digits of several numbers, places up to 14, and non-digits
    keys = np.concatenate([INDEX, INDEX + 20 * (INDEX > 0)], axis=1)  # pairs up to 34 places apart
    for layer in range(3):
        got = np.asarray(pe.bias(positions(2, 10), positions(2, 20), layer, digit_index=(places, jnp.asarray(keys))))
        assert got.shape == (2, 4, 10, 20)
        for row in range(2):
            np.testing.assert_array_equal(got[row], reference_bias(table[layer], INDEX[row], keys[row], 3))


def test_pairs_farther_apart_than_the_clip_share_one_value():
    pe, table = randomised("place_bias", max_distance=4)
    q = jnp.asarray([[1]], jnp.int32)
    far = pe.bias(positions(1, 1), positions(1, 3), 0, digit_index=(q, jnp.asarray([[5, 12, 60]], jnp.int32)))
    np.testing.assert_array_equal(np.asarray(far)[0, :, 0], np.repeat(table[0][8][:, None], 3, axis=1))
    behind = pe.bias(positions(1, 1), positions(1, 1), 0, digit_index=(jnp.asarray([[40]]), q))
    np.testing.assert_array_equal(np.asarray(behind)[0, :, 0, 0], table[0][0])


def test_options_are_checked_by_name_and_the_parts_keep_theirs():
    with pytest.raises(ValueError, match="model.pe.max_distance must be >= 1, got 0"):
        make_pe("place_bias", max_distance=0)
    with pytest.raises(ValueError, match="model.pe.beyond must be one of shared, masked, got 'far'"):
        make_pe("abacus_place", beyond="far")
    assert pe_options("abacus_place") == pe_options("abacus") | pe_options("place_bias")
    pe = make_pe("abacus_place", max_offset=7, offset_per="example", max_distance=2)
    assert (pe.abacus.max_offset, pe.abacus.offset_per) == (7, "example")
    assert pe.place_bias.table[...].shape == (2, 6, 4)
    assert not np.any(np.asarray(pe.place_bias.table[...]))  # starts as plain Abacus
    assert pe.inputs == ("digit_index",) and pe.requires_bos and make_pe("place_bias").requires_bos


def test_coverage_has_no_new_bucket_at_any_length():
    report = make_pe("abacus_place", max_offset=5, max_distance=4).coverage(trained=20, evaluated=40)
    assert report["untrained"] == list(range(26, 41))  # Abacus's rows
    assert "no bucket is new at any length" in report["summary"]
    assert make_pe("place_bias").coverage(trained=20, evaluated=400)["untrained"] == []


@pytest.mark.slow
def test_in_a_decoder_the_bias_moves_exactly_the_queries_that_see_such_a_pair():
    """Only layer 0's bucket "one place ahead" is set: the logits change at the queries with a
    digit key one place after their own (a non-digit query counts from place 0), nowhere else."""
    model = tiny_model("place_bias", num_layers=1)  # one layer: no later layer carries a change on
    model.pe.table[...] = jnp.zeros_like(model.pe.table[...])
    tokens = jnp.asarray([[1, 3, 4, 15, 3, 15, 4, 4]], jnp.int32)  # digits are 3..12: places 0 1 2 0 1 0 1 2
    pos = jnp.arange(8)[None]
    plain = np.asarray(jit_forward(model)(tokens, pos).logits)
    c = model.pe.max_distance
    model.pe.table[...] = model.pe.table[...].at[0, c + 1].set(3.0)
    moved = np.asarray(jit_forward(model)(tokens, pos).logits)
    changed = np.abs(moved - plain).max(axis=-1)[0] > 1e-4
    assert changed.tolist() == [False, False, False, True, True, True, True, False]


@pytest.mark.parametrize("name", ["place_bias", "abacus_place"])
def test_masked_beyond_hides_only_digit_keys_farther_than_the_clip(name):
    pe, table = randomised(name, max_distance=3, beyond="masked")
    places = jnp.asarray(INDEX)
    keys = np.concatenate([INDEX, INDEX + 20 * (INDEX > 0)], axis=1)
    got = np.asarray(pe.bias(positions(2, 10), positions(2, 20), 1, digit_index=(places, jnp.asarray(keys))))
    for row in range(2):
        far = (keys[row][None, :] > 0) & (np.abs(keys[row][None, :] - INDEX[row][:, None]) > 3)
        assert far.any() and (~far).any()
        np.testing.assert_array_equal(got[row][:, ~far], reference_bias(table[1], INDEX[row], keys[row], 3)[:, ~far])
        assert (got[row][:, far] == np.float32(HIDDEN)).all()


def test_in_a_decoder_masked_beyond_makes_far_digits_invisible():
    """One layer, so attention is the only path between tokens: the last token (place 1 of the
    second number) does not read digits 3 or more places away, and does read the others."""
    model = tiny_model("place_bias-masked", num_layers=1)
    tokens = np.asarray([[1, 3, 4, 5, 6, 7, 15, 3]], np.int32)  # places 0 1 2 3 4 5 0 1
    pos = jnp.arange(8)[None]
    forward = jit_forward(model)
    last = np.asarray(forward(jnp.asarray(tokens), pos).logits)[0, -1]

    def last_with(index: int) -> np.ndarray:
        changed = tokens.copy()
        changed[0, index] = 12
        return np.asarray(forward(jnp.asarray(changed), pos).logits)[0, -1]

    np.testing.assert_array_equal(last_with(4), last)  # place 4: 3 places away
    np.testing.assert_array_equal(last_with(5), last)
    assert all(np.abs(last_with(i) - last).max() > 1e-4 for i in (1, 2, 3))  # places 1-3, within 2
