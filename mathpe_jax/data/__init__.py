"""Tokenizers, synthetic tasks with length splits, math datasets and batching."""
