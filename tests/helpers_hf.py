"""A tiny random Llama saved with a tiny tokenizer: a complete offline Hugging Face checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.convert.tiny_hf import save_hf, tiny_hf_model


def tiny_checkpoint(directory: Path, tokenizer_dir: Path, model_type: str = "llama") -> Path:
    """Model weights (vocab 512, 2 layers, width 64, 1024 positions) plus the tokenizer files."""
    model = tiny_hf_model(model_type, vocab_size=512, max_position_embeddings=1024, bos_token_id=1, eos_token_id=2)
    save_hf(model, directory)
    for f in tokenizer_dir.iterdir():
        shutil.copy(f, directory / f.name)
    return directory


# Qwen2's ChatML template, as its instruct tokenizers ship it (without the tool-calling branches).
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Per family: special tokens (the first is id 0) and what tokenizer(text) adds. Llama's post-processor
# prepends BOS; Qwen2 has no BOS at all; this Mistral tokenizer defines a BOS but adds none.
FAMILIES = {
    "llama": {"specials": ["<unk>", "<s>", "</s>"], "bos": "<s>", "eos": "</s>", "post_bos": True, "chat": None},
    "qwen2": {"specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "bos": None, "eos": "<|im_end|>",
              "post_bos": False, "chat": CHATML},
    "mistral": {"specials": ["<unk>", "<s>", "</s>"], "bos": "<s>", "eos": "</s>", "post_bos": False, "chat": None},
}


def bpe_tokenizer(family: str, texts, vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on ``texts`` with ``family``'s special tokens and
    post-processing, wrapped as ``transformers`` wraps a ``tokenizer.json``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    spec = FAMILIES[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=spec["specials"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    if spec["post_bos"]:
        bos = spec["bos"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec["bos"],
        eos_token=spec["eos"],
        pad_token=spec["specials"][0],
        chat_template=spec["chat"],
    )


def family_checkpoint(directory: Path, family: str, texts) -> Path:
    """A tiny random ``family`` model (1024 positions) saved with its own BPE tokenizer."""
    tokenizer = bpe_tokenizer(family, texts)
    model = tiny_hf_model(
        family,
        vocab_size=len(tokenizer),
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    save_hf(model, directory)
    tokenizer.save_pretrained(directory)
    return directory
