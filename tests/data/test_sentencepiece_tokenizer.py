import itertools
import json

import pytest

from mathpe_jax.data.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
    train_sentencepiece,
)


@pytest.fixture(scope="module")
def gsm8k_texts(data_dir):
    with (data_dir / "gsm8k" / "train.jsonl").open() as lines:
        return [json.loads(line) for line in itertools.islice(lines, 2000)]


@pytest.fixture(scope="module")
def bpe(gsm8k_texts, tmp_path_factory):
    path = train_sentencepiece(
        (f"{r['question']}\n{r['answer']}" for r in gsm8k_texts), tmp_path_factory.mktemp("sp") / "gsm8k", 1024
    )
    return SentencePieceTokenizer(path)


def test_training_on_2000_problems_gives_the_vocabulary_asked_for(bpe):
    assert bpe.vocab_size == 1024


def test_special_ids_are_fixed(bpe):
    tok = bpe
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)


def test_every_digit_is_its_own_piece(bpe, gsm8k_texts):
    tok = bpe
    for row in gsm8k_texts[:50]:
        for i in tok.encode(row["answer"]):
            piece = tok.decode([i])
            assert not any(ch.isdigit() for ch in piece) or len(piece) == 1, piece


def test_round_trip_is_exact(bpe, gsm8k_texts):
    tok = bpe
    unusual = "  two  spaces,\ttab, é ☃ \\boxed{\\frac{1}{2}}\n\n"
    for text in [unusual] + [r["answer"] for r in gsm8k_texts[:200]]:
        ids = tok.encode(text)
        assert not {tok.pad_id, tok.bos_id, tok.eos_id, 3} & set(ids)  # byte fallback, never <unk>
        assert tok.decode(ids) == text
    assert tok.decode([tok.bos_id, *tok.encode("#### 72"), tok.eos_id, tok.pad_id]) == "#### 72"


def test_unigram_trains_too(gsm8k_texts, tmp_path):
    path = train_sentencepiece((r["question"] for r in gsm8k_texts[:500]), tmp_path / "uni", 512, model_type="unigram")
    tok = SentencePieceTokenizer(path)
    assert tok.decode(tok.encode("Betty has 100 dollars.")) == "Betty has 100 dollars."


def test_unknown_model_type_is_named(tmp_path):
    with pytest.raises(ValueError, match="model_type='wordpiece'"):
        train_sentencepiece(["a b c"], tmp_path / "x", 100, model_type="wordpiece")
