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
