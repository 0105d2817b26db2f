"""The tokenizer interface and the character tokenizer of the synthetic tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Tokenizer(Protocol):
    """What the data pipeline, the decoder and the evaluation need from any tokenizer.

    ``bos_id`` is None for tokenizers that have no BOS token (Qwen2's, for one); ``pad_id`` is always
    set, falling back to EOS where a tokenizer has no pad token, since padding is masked anyway.
    """

    pad_id: int
    bos_id: int | None
    eos_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS or EOS."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens dropped."""
        ...


SYNTHETIC_ALPHABET = "0123456789+-*=|> "


class CharTokenizer:
    """One id per character of a fixed alphabet, after PAD=0, BOS=1 and EOS=2.

    A fixed alphabet (not one learned from data) keeps ids identical across tasks and runs, so a
    checkpoint trained on one synthetic task can be evaluated on another. A task that writes more
    characters (the hint letters of ``task.index_hints``) appends them after
    ``SYNTHETIC_ALPHABET`` (``SyntheticTask.alphabet``), so every other run keeps its ids and
    vocabulary size.
    """

    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, alphabet: str = SYNTHETIC_ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"tokenizer alphabet has repeated characters: {alphabet!r}")
        self.alphabet = alphabet
        self._ids = {ch: i + 3 for i, ch in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 3

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the tokenizer alphabet {self.alphabet!r}") from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i - 3] for i in ids if 3 <= i < self.vocab_size)


def digit_ids(tokenizer: Tokenizer) -> tuple[int, ...]:
    """The ids of the tokens that are one decimal digit each (``0``..``9`` encoded alone), in digit
    order; digits a tokenizer only writes inside longer tokens are not among them."""
    ids = []
    for digit in "0123456789":
        encoded = tokenizer.encode(digit)
        if len(encoded) == 1:
            ids.append(encoded[0])
    return tuple(ids)
