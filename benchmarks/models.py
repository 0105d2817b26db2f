"""Random transformers Llamas with a small BPE tokenizer, so that benchmarks run offline.

Throughput and memory do not depend on the weights' values, so a randomly initialised model of the
right shape measures what a trained one would. The directory is a Hugging Face model directory:
``load_hf``, ``tools/solve.py`` and ``AutoTokenizer`` all read it. tokenizers, transformers and torch
(the ``bench`` extra) are imported when a model is made, never on import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The tokenizer: specials first (so pad/BOS/EOS are ids 0-2, as workload.random_tokens assumes),
# then the characters of arithmetic word problems; BPE merges fill the rest of the vocabulary.
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
ALPHABET = "0123456789+-*/=().,?%$ abcdefghijklmnopqrstuvwxyz"


def _corpus(seed: int, lines: int = 2000) -> list[str]:
    """Arithmetic sentences to learn BPE merges from: what the benchmarked models are about."""
    rng = np.random.default_rng(seed)
    words = ("what is", "compute", "the sum of", "the product of", "answer", "so the total is", "each", "has")
    out = []
    for _ in range(lines):
        a, b = (int(x) for x in rng.integers(0, 10_000, size=2))
        op = "+-*/"[int(rng.integers(4))]
        out.append(f"{words[int(rng.integers(len(words)))]} {a} {op} {b} = ? answer: {a} {op} {b}.")
    return out


def make_tokenizer(directory: str | Path, vocab: int, seed: int = 0) -> int:
    """Trains a small BPE tokenizer (at most ``vocab`` tokens) and saves it in Hugging Face form.

    ``AutoTokenizer.from_pretrained(directory)`` then loads it, adding BOS as Llama's does; returns
    the number of tokens. The alphabet is fixed so that even a tiny vocabulary covers every digit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = len(SPECIAL_TOKENS) + len(ALPHABET) + 1  # the space becomes the Metaspace marker
    if vocab < minimum:
        raise ValueError(f"--vocab={vocab} must be at least {minimum}: the tokenizer's specials and alphabet")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=list(ALPHABET.replace(" ", "\u2581"))
    )
    tokenizer.train_from_iterator(_corpus(seed), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(directory)
    return tokenizer.get_vocab_size()


def make_llama(
    directory: str | Path, *, layers: int, width: int, heads: int, kv_heads: int, vocab: int, mlp: int, seed: int = 0
) -> int:
    """Saves a randomly initialised transformers Llama and a BPE tokenizer for it to ``directory``;
    returns the model's parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    make_tokenizer(directory, vocab, seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())

