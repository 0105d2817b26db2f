"""Abacus + FIRE: Abacus's rows added to the embeddings and FIRE's bias in attention, each against
its own paper's float64 transcription (the references of ``test_abacus`` and ``test_fire``), with
each part's options and its training offset."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from mathpe_jax.pe import pe_options
from tests.pe.helpers import make_pe, positions
from tests.pe.test_abacus import INDEX
from tests.pe.test_fire import params, randomise, reference_bias


def test_it_embeds_as_abacus_and_biases_as_fire():
    pe = make_pe("abacus_fire", max_offset=3, init_threshold=6.0, layers=3)
    x = np.random.default_rng(0).normal(size=(2, 10, 32)).astype(np.float32)
    got = np.asarray(pe.embed(jnp.asarray(x), positions(2, 10), digit_index=jnp.asarray(INDEX)))
    table = np.asarray(pe.abacus.table[...], np.float64)
    np.testing.assert_allclose(got, x.astype(np.float64) + table[INDEX], atol=1e-6)  # one float32 add
    randomise(pe.fire)
    qp = positions(2, 12)
    for layer in range(3):
        expected = reference_bias(params(pe.fire, layer), 6.0, qp[0], qp[0])
        np.testing.assert_allclose(np.asarray(pe.bias(qp, qp, layer))[0], expected, rtol=1e-5, atol=1e-5)


def test_it_takes_both_parts_options_and_names_a_bad_one():
    assert pe_options("abacus_fire") == pe_options("abacus") | pe_options("fire")
    pe = make_pe("abacus_fire", max_offset=7, offset_per="example", hidden=8, share_across_layers=True)
    assert pe.abacus.max_offset == 7 and pe.abacus.offset_per == "example"
    assert pe.fire.w1[...].shape == (1, 8)
    with pytest.raises(ValueError, match="model.pe.offset_per must be one of batch, example, got 'token'"):
        make_pe("abacus_fire", offset_per="token")
    with pytest.raises(ValueError, match="model.pe.hidden must be >= 1, got 0"):
        make_pe("abacus_fire", hidden=0)


def test_training_draws_abacus_offsets_and_evaluation_none():
    pe = make_pe("abacus_fire", max_offset=50)
    x = np.zeros((2, 10, 32), np.float32)
    embed = lambda: np.asarray(pe.embed(jnp.asarray(x), positions(2, 10), digit_index=jnp.asarray(INDEX)))
    plain = embed()
    pe.train()  # what the trainer calls on the whole model reaches the nested part
    assert any(not np.array_equal(embed(), plain) for _ in range(3))  # k = 0 thrice: 51**-3
    pe.eval()
    np.testing.assert_array_equal(embed(), plain)


def test_it_reads_digit_places_needs_no_bos_and_reports_both_coverages():
    pe = make_pe("abacus_fire", max_offset=5, init_threshold=100.0)
    assert pe.inputs == ("digit_index",) and not pe.requires_bos
    report = pe.coverage(trained=20, evaluated=40)
    assert report["unit"] == "place" and report["untrained"] == list(range(26, 41))
    assert "places 26-40 never trained" in report["summary"] and "the MLP extrapolates" in report["summary"]
