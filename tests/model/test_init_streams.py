"""Models that differ only in PE start from the same shared weights for the same seed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from flax import nnx

from mathpe_jax.model.transformer import Decoder
from tests.model.helpers import PE_CASES, tiny_config


def build(pe_case: str, seed: int) -> Decoder:
    return Decoder(tiny_config(pe_case), rngs=nnx.Rngs(seed))


def shared_params(model: Decoder) -> dict[tuple, np.ndarray]:
    """Every parameter outside the PE, by path."""
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    return {path: np.asarray(var[...]) for path, var in flat if path[0] != "pe"}


def pe_params(model: Decoder) -> dict[tuple, np.ndarray]:
    return {path: np.asarray(var[...]) for path, var in nnx.to_flat_state(nnx.state(model.pe, nnx.Param))}


def assert_same(a: dict[tuple, np.ndarray], b: dict[tuple, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for path in a:
        np.testing.assert_array_equal(a[path], b[path], err_msg=str(path))


@pytest.mark.parametrize("first, second", list(itertools.combinations(PE_CASES, 2)))
def test_models_differing_only_in_pe_share_their_initial_weights(first, second):
    a, b = shared_params(build(first, 0)), shared_params(build(second, 0))
    assert len(a) > 10  # embedding, per-layer norms and projections, final norm, head
    assert_same(a, b)


def test_the_seed_changes_the_shared_weights():
    a, b = shared_params(build("t5", 0)), shared_params(build("t5", 1))
    assert a.keys() == b.keys()
    for path in a:
        if path[-1] == "scale":  # norms start at one whatever the seed
            continue
        assert not np.array_equal(a[path], b[path]), path


@pytest.mark.parametrize("pe_case", ["t5", "diet-abs"])
def test_learned_pe_parameters_are_reproducible_and_seeded(pe_case):
    first, again, other = (pe_params(build(pe_case, seed)) for seed in (0, 0, 1))
    assert first
    assert_same(first, again)
    assert all(not np.array_equal(first[path], other[path]) for path in first)


def test_a_swapped_in_pe_equals_the_one_a_fresh_model_gets():
    fresh = build("t5", 3)
    swapped = build("rope", 3)
    swapped.replace_pe("t5", dict(PE_CASES["t5"]), nnx.Rngs(3))
    assert_same(pe_params(swapped), pe_params(fresh))
    assert_same(shared_params(swapped), shared_params(fresh))


def test_the_pe_stream_ignores_draws_already_made_from_the_shared_stream():
    rngs = nnx.Rngs(5)
    rngs.params()
    swapped = build("rope", 5)
    swapped.replace_pe("diet", dict(PE_CASES["diet-abs"]), rngs)
    assert_same(pe_params(swapped), pe_params(build("diet-abs", 5)))
