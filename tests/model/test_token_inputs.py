"""Per-token inputs: the digit index against a plain Python count, whole or chunk by chunk."""

import jax.numpy as jnp
import numpy as np
import pytest

from mathpe_jax.model import token_inputs
from mathpe_jax.model.transformer import Decoder
from tests.model.helpers import tiny_config

DIGITS = tuple(range(3, 13))


def reference_digit_index(row, digits=DIGITS):
    """Each digit's place in its run of digits, from 1; 0 for anything else (McLeish et al.)."""
    out, run = [], 0
    for token in row:
        run = run + 1 if token in digits else 0
        out.append(run)
    return out


def test_digit_index_counts_each_number_from_one_and_gives_other_tokens_zero():
    cfg = tiny_config("abacus")
    tokens = np.array([[1, 4, 5, 6, 15, 7, 8, 19, 3, 3, 3, 3, 2, 0]], np.int32)
    got = token_inputs.compute(("digit_index",), jnp.asarray(tokens), cfg)["digit_index"]
    assert np.asarray(got).tolist() == [[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0, 0]]


@pytest.mark.parametrize("split", [1, 5, 17])
def test_chunks_with_the_carried_value_equal_the_whole_sequence(split):
    cfg = tiny_config("abacus")
    rng = np.random.default_rng(split)
    tokens = rng.choice([3, 4, 9, 12, 15, 17, 20], size=(3, 24)).astype(np.int32)
    whole = token_inputs.compute(("digit_index",), jnp.asarray(tokens), cfg)["digit_index"]
    np.testing.assert_array_equal(np.asarray(whole), [reference_digit_index(list(r)) for r in tokens])
    first = token_inputs.compute(("digit_index",), jnp.asarray(tokens[:, :split]), cfg)["digit_index"]
    pieces, carry = [first], {"digit_index": first[:, -1]}
    for t in range(split, 24):
        step = token_inputs.compute(("digit_index",), jnp.asarray(tokens[:, t : t + 1]), cfg, carry)["digit_index"]
        pieces.append(step)
        carry = {"digit_index": step[:, -1]}
    np.testing.assert_array_equal(np.concatenate([np.asarray(p) for p in pieces], axis=1), np.asarray(whole))


def test_a_model_without_digit_ids_says_what_is_missing():
    cfg = tiny_config("abacus", digit_ids=())
    with pytest.raises(ValueError, match="reads digit_index, but the model has no digit_ids"):
        token_inputs.compute(("digit_index",), jnp.ones((1, 3), jnp.int32), cfg)


def test_an_input_nobody_computes_is_refused_by_name():
    with pytest.raises(ValueError, match="PE 'x' reads per-token input 'phase'"):
        token_inputs.check_inputs(("phase",), "x")


def test_the_decoder_passes_the_input_to_the_pe_without_naming_it(monkeypatch):
    """Any PE declaring an input gets it as a keyword of ``embed``: a stand-in PE records it."""
    from flax import nnx

    seen = {}
    model = Decoder(tiny_config("abacus"), rngs=nnx.Rngs(0))

    def embed(x, positions, **inputs):
        seen.update(inputs)
        return x

    monkeypatch.setattr(model.pe, "embed", embed)
    tokens = jnp.asarray([[1, 3, 4, 15]], jnp.int32)
    model(tokens, jnp.arange(4)[None])
    assert list(seen) == ["digit_index"]
    assert np.asarray(seen["digit_index"]).tolist() == [[0, 1, 2, 0]]
