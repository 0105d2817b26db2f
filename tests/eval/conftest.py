"""Fixtures shared with the data tests: the tiny Hugging Face tokenizer trained on GSM8K text."""

from tests.data.conftest import tiny_hf_tokenizer_dir  # noqa: F401 - re-exported as a fixture
