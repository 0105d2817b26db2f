"""SentencePiece tokenizers trained on the run's own text, for models trained from scratch.

Training settings are chosen for arithmetic: every digit is its own piece (so ``1234`` is always four
tokens and a number's digits line up with positions), unknown characters fall back to bytes (no
``<unk>`` in a generated answer), and the text is not normalised, so ``decode(encode(s)) == s`` for
every string, whitespace and newlines included. Special ids match ``CharTokenizer``: PAD 0, BOS 1,
EOS 2, and UNK 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

_TRAINING_DEFAULTS: dict[str, Any] = {
    "split_digits": True,
    "byte_fallback": True,
    "pad_id": PAD_ID,
    "bos_id": BOS_ID,
    "eos_id": EOS_ID,
    "unk_id": UNK_ID,
    # No NFKC, no collapsing of spaces and no leading "▁": text comes back exactly as it went in.
    "normalization_rule_name": "identity",
    "remove_extra_whitespaces": False,
    "add_dummy_prefix": False,
    # MATH solutions run to several thousand bytes; the library default (4192) would skip them.
    "max_sentence_length": 1 << 16,
    "minloglevel": 2,  # the trainer otherwise logs one line per piece
}


def train_sentencepiece(
    texts: Iterable[str], out_prefix: str | Path, vocab_size: int, model_type: str = "bpe", **options: Any
) -> Path:
    """Trains a ``model_type`` ("bpe" or "unigram") model on ``texts``; returns ``<out_prefix>.model``.

    ``options`` are further ``SentencePieceTrainer`` options and override the defaults above
    (``num_threads``, ``character_coverage``, ``input_sentence_size`` ...).
    """
    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"unknown SentencePiece model_type={model_type!r}; expected 'bpe' or 'unigram'")
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_prefix=str(out_prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        **{**_TRAINING_DEFAULTS, **options},
    )
    return out_prefix.with_name(out_prefix.name + ".model")


class SentencePieceTokenizer:
    """The ``Tokenizer`` protocol over a SentencePiece ``.model`` file.

    Models trained elsewhere may lack PAD or BOS (SentencePiece reports -1): PAD then falls back to
    EOS and BOS is None, as for Hugging Face tokenizers.
    """

    def __init__(self, model_path: str | Path):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"SentencePiece model not found: {model_path}")
        self.model_path = model_path
        self._sp = spm.SentencePieceProcessor(model_file=str(model_path))
        if self._sp.eos_id() < 0:
            raise ValueError(f"SentencePiece model {model_path} has no EOS piece")
        self.eos_id = self._sp.eos_id()
        self.pad_id = self._sp.pad_id() if self._sp.pad_id() >= 0 else self.eos_id
        self.bos_id = self._sp.bos_id() if self._sp.bos_id() >= 0 else None

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids])  # control pieces (PAD, BOS, EOS) decode to ""
