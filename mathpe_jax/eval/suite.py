"""Everything ``--mode=eval`` (and the end of training) measures on a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.eval.length_generalization import evaluate_lengths
from mathpe_jax.model.transformer import Decoder


def evaluate_run(config: ConfigDict, model: Decoder, tokenizer: Tokenizer, workdir: Path) -> dict[str, Any]:
    """The ``eval`` entry of results.json for the run's task."""
    del workdir
    return evaluate_lengths(model, tokenizer, config.task, config.eval, config.seed)
