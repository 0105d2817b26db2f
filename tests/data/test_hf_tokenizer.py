"""HFTokenizer: special ids, exact round trips, no special tokens added."""

from tokenizers import Tokenizer as RawTokenizer
from transformers import PreTrainedTokenizerFast

from mathpe_jax.data.hf_tokenizer import HFTokenizer

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
