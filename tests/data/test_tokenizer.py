import pytest

from mathpe_jax.data.tokenizer import CharTokenizer


def test_round_trip_and_special_ids():
    tok = CharTokenizer()
    ids = tok.encode("12+34=")
    assert min(ids) >= 3 and tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == "12+34="
    assert tok.vocab_size == len(tok.alphabet) + 3


def test_unknown_character_is_named():
    with pytest.raises(ValueError, match="'x'"):
        CharTokenizer().encode("1x2")
