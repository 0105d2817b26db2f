"""Batch-by-batch decoding: same completions as one greedy_generate call, timing without compilation."""

from __future__ import annotations

import logging

import pytest

from mathpe_jax.decode import greedy_generate
from mathpe_jax.eval.generation import generate
from mathpe_jax.progress import Progress
from tests.model.helpers import tiny_model

PROMPTS = [[1, 5, 6], [1, 7, 8, 9, 10, 11], [1, 12], [1, 13, 14, 15], [1, 16, 17, 18, 19, 20, 21, 22, 23]]


@pytest.fixture(scope="module")
def model():
    return tiny_model("rope")


def test_batches_match_one_greedy_call_and_the_first_batch_is_not_timed(model, caplog) -> None:
    caplog.set_level(logging.INFO, logger="absl")
    out = generate(model, PROMPTS, max_new_tokens=5, eos_id=2, pad_id=0, batch_size=2, label="tiny")
    assert out.completions == greedy_generate(model, PROMPTS, max_new_tokens=5, eos_id=2, pad_id=0, batch_size=2)
    timing = out.timing
    assert (timing.batches, timing.problems, timing.batch_size) == (2, 3, 2)  # batches 2 and 3 of 3
    assert timing.tokens == sum(len(c) for c in out.completions[2:])
    assert timing.seconds > 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tiny:")]
    assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]
    assert all("ETA" in line for line in lines)


def test_one_batch_is_decoded_again_to_be_timed(model) -> None:
    out = generate(model, PROMPTS[:2], max_new_tokens=3, eos_id=2, pad_id=0, batch_size=2)
    assert (out.timing.batches, out.timing.problems, out.timing.batch_size) == (1, 2, 2)
    assert len(out.completions) == 2


def test_a_short_set_is_filled_to_the_batch_size_without_changing_its_rows(model) -> None:
    """Sets smaller than the batch (robustness variants) reuse the shape compiled for the originals."""
    full = generate(model, PROMPTS, max_new_tokens=3, eos_id=2, pad_id=0, batch_size=4, prompt_len=9)
    part = generate(model, PROMPTS[1:3], max_new_tokens=3, eos_id=2, pad_id=0, batch_size=4, prompt_len=9)
    assert part.completions == full.completions[1:3]
    assert (part.timing.problems, part.timing.batch_size) == (2, 4)


def test_nothing_to_decode_is_an_error(model) -> None:
    with pytest.raises(ValueError, match="nothing to decode"):
        generate(model, [], max_new_tokens=3, eos_id=2, pad_id=0, batch_size=8)


def test_progress_lines_are_throttled_but_the_last_is_always_logged(caplog) -> None:
    caplog.set_level(logging.INFO, logger="absl")
    progress = Progress("grading", 10, every=3600.0)
    progress.update(1)
    progress.update(10)
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("grading:")]
    assert len(messages) == 1 and messages[0].startswith("grading: 10/10 problems in ")
