"""Telling a Hugging Face hub id from a local path, one rule for models, tokenizers and datasets."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id


def is_hub_id(text: str) -> bool:
    """``owner/name`` as the hub spells it and not an existing path. "../data" or "/abs/model" are
    paths, however they are missing, so a typo gives "not found" rather than a network request."""
    if Path(text).exists():
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return "/" in text
