from pathlib import Path

import pytest
from tokenizers import Tokenizer as RawTokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from mathpe_jax.data import hf_tokenizer
from mathpe_jax.data.hf_tokenizer import HFTokenizer, load_tokenizer
from mathpe_jax.data.sentencepiece_tokenizer import SentencePieceTokenizer
from mathpe_jax.data.tokenizer import CharTokenizer

SOLUTION = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n  Total:  1,450,000 é ☃\n#### 72"


def test_special_ids_and_vocab(tiny_hf_tokenizer_dir):
    tok = HFTokenizer(tiny_hf_tokenizer_dir)
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.vocab_size) == (0, 1, 2, 512)


def test_encode_adds_no_special_tokens_and_decode_drops_them(tiny_hf_tokenizer_dir):
    tok = HFTokenizer(tiny_hf_tokenizer_dir)
    ids = tok.encode(SOLUTION)
    assert not {tok.pad_id, tok.bos_id, tok.eos_id} & set(ids)
    assert tok.decode(ids) == SOLUTION  # exact, whitespace and non-ASCII included
    assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == SOLUTION


def test_digits_are_single_tokens(tiny_hf_tokenizer_dir):
    tok = HFTokenizer(tiny_hf_tokenizer_dir)
    assert [tok.decode([i]) for i in tok.encode("12345")] == list("12345")


def test_without_pad_or_bos_pad_falls_back_to_eos(tiny_hf_tokenizer_dir, tmp_path):
    raw = RawTokenizer.from_file(str(tiny_hf_tokenizer_dir / "tokenizer.json"))
    PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>").save_pretrained(tmp_path)
    tok = HFTokenizer(tmp_path)
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (2, None, 2)


def test_load_tokenizer_picks_by_spec(tiny_hf_tokenizer_dir, monkeypatch):
    assert isinstance(load_tokenizer("char"), CharTokenizer)
    assert isinstance(load_tokenizer(tiny_hf_tokenizer_dir), HFTokenizer)
    assert isinstance(load_tokenizer(str(tiny_hf_tokenizer_dir)), HFTokenizer)
    asked = []

    class Hub:
        @staticmethod
        def from_pretrained(name):
            asked.append(name)
            return AutoTokenizer.from_pretrained(tiny_hf_tokenizer_dir)

    monkeypatch.setattr(hf_tokenizer, "AutoTokenizer", Hub)
    assert isinstance(load_tokenizer("owner/tiny-tokenizer"), HFTokenizer) and asked == ["owner/tiny-tokenizer"]


def test_load_tokenizer_sentencepiece_file(tmp_path):
    from mathpe_jax.data.sentencepiece_tokenizer import train_sentencepiece

    model = train_sentencepiece([f"{i} apples and {i + 1} pears" for i in range(200)], tmp_path / "sp", 300)
    assert isinstance(load_tokenizer(model), SentencePieceTokenizer)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("chars", ValueError, "unknown tokenizer spec 'chars'"),
        ("../no/such/tokenizer", ValueError, "unknown tokenizer spec '../no/such/tokenizer'"),
        ("missing/sp.model", FileNotFoundError, "SentencePiece model not found: missing/sp.model"),
    ],
)
def test_bad_specs_are_named_in_one_line(spec, error, match):
    with pytest.raises(error, match=match) as info:
        load_tokenizer(spec)
    assert "\n" not in str(info.value)


def test_directory_without_tokenizer_files_is_named(tmp_path: Path):
    with pytest.raises(ValueError, match=f"tokenizer directory {tmp_path} has none of") as info:
        load_tokenizer(tmp_path)
    assert "\n" not in str(info.value)
