import logging

import numpy as np
import pytest

from mathpe_jax.data.math_datasets import MathProblem
from mathpe_jax.data.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
    train_sentencepiece,
)
from mathpe_jax.data.sft import SFTBatches, SFTExample, sft_examples
from mathpe_jax.data.tasks.gsm8k import GSM8K


@pytest.fixture(scope="module")
def gsm8k(data_dir):
    return GSM8K({"source": str(data_dir)}).problems("train")


def _task(template="cot", bos=True):
    return GSM8K({"template": template, "bos": bos})


@pytest.fixture(scope="module")
def tokenizer(gsm8k, tmp_path_factory):
    texts = (f"{p.question}\n{p.solution}" for p in gsm8k[:2000])
    return SentencePieceTokenizer(train_sentencepiece(texts, tmp_path_factory.mktemp("sp") / "gsm8k", 2048))


@pytest.fixture(scope="module")
def examples(gsm8k, tokenizer):
    return sft_examples(gsm8k, tokenizer, _task(), max_len=512)


def test_examples_hold_bos_prompt_and_target(gsm8k, tokenizer, examples):
    first = examples[0]
    assert first.id == "gsm8k/train/0" and first.prompt_ids[0] == tokenizer.bos_id
    assert tokenizer.decode(first.target_ids) == " " + gsm8k[0].solution
    assert first.length == len(first.prompt_ids) + len(first.target_ids)
    no_bos = sft_examples(gsm8k[:1], tokenizer, _task(bos=False), max_len=512)
    assert no_bos[0].prompt_ids == first.prompt_ids[1:]


def test_too_long_examples_are_dropped_and_counted(gsm8k, tokenizer, caplog):
    with caplog.at_level(logging.WARNING):
        kept = sft_examples(gsm8k[:200], tokenizer, _task(), max_len=200)
    assert 0 < len(kept) < 200 and all(e.length <= 200 for e in kept)
    assert f"dropped {200 - len(kept)} of 200 examples longer than max_len=200 tokens" in caplog.text
    with pytest.raises(ValueError, match="no gsm8k example fits max_len=10: the shortest has"):
        sft_examples(gsm8k[:5], tokenizer, _task(), max_len=10)


def test_loss_mask_covers_exactly_the_target_and_eos(examples, tokenizer):
    batches = SFTBatches(examples, 8, seed=0, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    by_prompt = {e.prompt_ids: e for e in examples}
    for step in (0, 1, batches.steps_per_epoch + 2):
        batch = batches(step)
        assert batch.inputs.shape[1] % 32 == 0
        for row in range(8):
            n = int((batch.positions[row] >= 0).sum())
            masked = batch.loss_mask[row] == 1
            first_target = int(np.argmax(masked))
            example = by_prompt[tuple(batch.inputs[row, : first_target + 1])]
            assert batch.targets[row][masked].tolist() == [*example.target_ids, tokenizer.eos_id]
            assert masked.sum() == len(example.target_ids) + 1 and n == example.length
            assert not masked[n:].any()


def _numbered(lengths):
    """Examples whose single prompt token is their index, so batches show which examples they hold."""
    return [SFTExample((i,), (7,) * (n - 1), f"e{i}") for i, n in enumerate(lengths)]


def test_batches_are_a_pure_function_of_seed_and_step():
    examples = _numbered(np.random.default_rng(0).integers(2, 60, size=100))

    def make(seed):
        return SFTBatches(examples, 4, seed, eos_id=2, pad_id=0, bucket_window=5)

    a, b = make(0), make(0)
    later = [b(s) for s in (60, 3, 27)]  # other epochs first: no hidden iterator state
    for step, batch in zip((60, 3, 27), later):
        for x, y in zip(a(step), batch):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(make(1)(3).inputs[:, 0], a(3).inputs[:, 0])


def test_an_epoch_visits_each_example_at_most_once_in_length_buckets():
    lengths = np.random.default_rng(1).integers(2, 200, size=103)
    batches = SFTBatches(_numbered(lengths), 4, seed=0, eos_id=2, pad_id=0, bucket_window=5)
    assert batches.steps_per_epoch == 25
    seen = np.concatenate([batches(s).inputs[:, 0] for s in range(25)])
    assert len(set(seen.tolist())) == 100  # 3 left over, a different 3 each epoch
    next_epoch = np.concatenate([batches(s).inputs[:, 0] for s in range(25, 50)])
    assert set(seen.tolist()) != set(next_epoch.tolist())
    spread = [np.ptp(lengths[batches(s).inputs[:, 0]]) for s in range(25)]
    assert np.mean(spread) < np.ptp(lengths) / 4  # a batch holds similar lengths


def test_bucketing_cuts_padding_on_gsm8k(examples, tokenizer):
    def padding(window):
        """Share of an epoch's input positions that are padding (position -1)."""
        batches = SFTBatches(examples, 32, 0, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, bucket_window=window)
        positions = [batches(step).positions for step in range(batches.steps_per_epoch)]
        return sum(int((p < 0).sum()) for p in positions) / sum(p.size for p in positions)

    unbucketed, bucketed = padding(1), padding(16)
    assert unbucketed > 0.25 and bucketed < unbucketed / 3, (unbucketed, bucketed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 11}, "batch_size=11 must be between 1 and the 10 examples"),
        ({"bucket_window": 0}, "bucket_window=0"),
    ],
)
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SFTBatches(_numbered([3] * 10), **{"batch_size": 2, "seed": 0, "eos_id": 2, "pad_id": 0, **kwargs})


def test_problems_with_braces_and_unicode_survive(tokenizer):
    problem = MathProblem("x", "Is {a} ≤ b?", "Yes.\n#### 1", "1")
    (example,) = sft_examples([problem], tokenizer, _task("plain"), max_len=64)
    assert tokenizer.decode(example.prompt_ids) == "Question: Is {a} ≤ b?\nAnswer:"
    assert tokenizer.decode(example.target_ids) == " 1"


@pytest.mark.parametrize("family,template", [("llama", "cot"), ("mistral", "none"), ("qwen2", "chat")])
def test_prompts_are_what_the_hugging_face_tokenizer_gives(gsm8k, tmp_path, family, template):
    """Training sees the ids evaluation and solve give: the tokenizer's own specials, or its chat template."""
    from mathpe_jax.data.hf_tokenizer import HFTokenizer
    from tests.helpers_hf import bpe_tokenizer

    bpe_tokenizer(family, (f"{p.question}\n{p.solution}" for p in gsm8k[:300])).save_pretrained(tmp_path)
    tokenizer = HFTokenizer(tmp_path)
    task = _task(template)
    (example,) = sft_examples(gsm8k[:1], tokenizer, task, max_len=4096)
    prompt = task.prompt(gsm8k[0].question)
    if template == "chat":
        messages = [{"role": "user", "content": prompt}]
        expected = tokenizer.hf.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    else:
        expected = tokenizer.hf(prompt)["input_ids"]
    assert list(example.prompt_ids) == expected
    assert tokenizer.decode(example.target_ids) == task.target(gsm8k[0])
