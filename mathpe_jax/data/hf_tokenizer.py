"""Hugging Face tokenizers behind the ``Tokenizer`` protocol.

A converted checkpoint must be fed exactly the ids its tokenizer produces, so this wraps
``AutoTokenizer`` rather than re-implementing any tokenizer. Special tokens are left to the data
pipeline: ``encode`` adds none (``prompts.encode_prompt`` lets the tokenizer add its own to a prompt,
and ``sft_batch`` appends EOS), and ``decode`` drops them so graders see only text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import AutoTokenizer


class HFTokenizer:
    """The ``Tokenizer`` protocol over ``AutoTokenizer.from_pretrained(path_or_hub_id)``.

    A local directory is read offline; a hub id downloads (or reads the cache) as ``transformers``
    does. ``pad_id`` falls back to EOS when the tokenizer has no pad token (Llama, Mistral); ``bos_id``
    is None when it has no BOS token (Qwen2).
    """

    def __init__(self, path_or_hub_id: str | Path):
        self.name = str(path_or_hub_id)
        self._tok = AutoTokenizer.from_pretrained(self.name)
        if self._tok.eos_token_id is None:
            raise ValueError(f"tokenizer {self.name} has no EOS token")
        self.eos_id: int = self._tok.eos_token_id
        self.pad_id: int = self._tok.pad_token_id if self._tok.pad_token_id is not None else self.eos_id
        self.bos_id: int | None = self._tok.bos_token_id

    @property
    def hf(self):
        """The ``transformers`` tokenizer itself: ``prompts.encode_prompt`` lets it add its own
        special tokens and apply its chat template."""
        return self._tok

    @property
    def vocab_size(self) -> int:
        """Every id the tokenizer can produce, added tokens included (a model's embedding may be larger)."""
        return len(self._tok)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        # No clean-up of spaces before punctuation: "3 . 5" must not come back as "3. 5".
        return self._tok.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

