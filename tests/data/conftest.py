"""A tiny Hugging Face tokenizer, trained locally on GSM8K text, for any test that needs one."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_hf_tokenizer_dir(tmp_path_factory, data_dir: Path) -> Path:
    """A saved byte-level BPE tokenizer (vocab 512, digits split, PAD 0 / BOS 1 / EOS 2), trained on
    the first 300 GSM8K training problems; ``AutoTokenizer.from_pretrained`` reads the directory offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    with (data_dir / "gsm8k" / "train.jsonl").open() as lines:
        rows = [json.loads(line) for line in itertools.islice(lines, 300)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator((f"{r['question']}\n{r['answer']}" for r in rows), trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    out = tmp_path_factory.mktemp("tiny_hf_tokenizer")
    wrapped.save_pretrained(out)
    return out
