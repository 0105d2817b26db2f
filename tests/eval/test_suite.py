"""End to end: a synthetic run evaluated by ``--mode=eval``, and a text dataset evaluated directly."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from flax import nnx

from mathpe_jax.data.tasks.buckets import length_bucket
from mathpe_jax.eval.suite import EvalSpec, evaluate
from mathpe_jax.grading.steps import ERROR_CLASSES
from mathpe_jax.main import run
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder
from tests.helpers_run import tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PREDICTION_FIELDS = {
    "id", "prompt", "completion", "extracted", "gold", "correct", "symbolic_correct", "grade_status", "error_class",
    "length",
    "length_bucket", "truncated", "completion_tokens", "n_steps", "n_equations", "fraction_equations_correct",
    "first_wrong_step",
}
EFFICIENCY_FIELDS = {
    "params", "train_tokens_per_second", "train_tokens_per_second_source", "decode_tokens_per_second",
    "decode_seconds_per_problem", "decode_seconds_per_batch", "decode_batch_size", "decode_timed_problems",
    "peak_memory_bytes", "peak_memory_source",
}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_common(metrics: dict, predictions: list[dict], workdir) -> None:
    """What every evaluation reports, checked against its own predictions file."""
    json.dumps(metrics, allow_nan=False)
    assert all(set(p) == PREDICTION_FIELDS for p in predictions)
    assert len({p["id"] for p in predictions}) == len(predictions) == metrics["n"]
    assert metrics["error_classes"] == {c: sum(p["error_class"] == c for p in predictions) for c in ERROR_CLASSES}
    assert metrics["grading"] == {
        "timed_out": sum(p["grade_status"] == "timed out" for p in predictions),
        "failed": sum(p["grade_status"] == "failed" for p in predictions),
    }
    assert metrics["exact_match"] == pytest.approx(sum(p["correct"] for p in predictions) / len(predictions))
    assert metrics["symbolic_accuracy"] == pytest.approx(sum(p["symbolic_correct"] for p in predictions) / len(predictions))
    assert metrics["truncated_rate"] == pytest.approx(sum(p["truncated"] for p in predictions) / len(predictions))
    assert all(p["error_class"] == "truncated" for p in predictions if p["truncated"] and not p["symbolic_correct"])
    attention = metrics["attention"]
    assert len(attention["examples"]) == min(8, len(predictions))
    assert len(attention["heatmaps"]) == 2
    for name in attention["heatmaps"]:
        assert (workdir / name).read_bytes()[:8] == PNG_MAGIC
    assert set(metrics["efficiency"]) == EFFICIENCY_FIELDS
    assert metrics["efficiency"]["decode_tokens_per_second"] > 0 and metrics["efficiency"]["params"] > 0


@pytest.mark.slow
def test_synthetic_run_evaluated_by_eval_mode(tmp_path) -> None:
    config = tiny_config("rope", **{"task.name": "expression"})
    trained = run(config, tmp_path, "train")
    assert trained["eval"]["efficiency"]["train_tokens_per_second_source"] == "metrics.jsonl"
    results = run(config, tmp_path, "eval")
    metrics = results["eval"]
    assert json.loads((tmp_path / "results.json").read_text())["eval"] == json.loads(json.dumps(metrics))
    # The restored checkpoint gives the same verdicts as the model that was just trained; only the
    # timings and memory figures differ.
    assert {k: v for k, v in metrics.items() if k != "efficiency"} == {
        k: v for k, v in trained["eval"].items() if k != "efficiency"
    }

    # The core schema, with the new figures alongside.
    assert metrics["in_distribution"]["n"] == 16 and set(metrics["by_length"]) == {"1", "2", "3"}
    assert metrics["out_of_distribution"]["n"] == 8
    predictions = _lines(tmp_path / "predictions.jsonl")
    _check_common(metrics, predictions, tmp_path)
    for n, entry in metrics["by_length"].items():
        rows = [p for p in predictions if p["length"] == int(n)]
        assert entry == {
            "n": len(rows),
            "exact_match": pytest.approx(sum(p["correct"] for p in rows) / len(rows)),
            "symbolic_accuracy": pytest.approx(sum(p["symbolic_correct"] for p in rows) / len(rows)),
            "prompt_space": entry["prompt_space"],
            "possible_in_training": int(n) <= 2,  # trained on lengths 1-2
        }
        assert entry["prompt_space"] > 0
    assert Counter(p["length_bucket"] for p in predictions) == {"in_distribution": 16, "out_of_distribution": 8}
    assert metrics["reasoning"]["mean_steps"] > 0  # expression answers are step chains
    assert metrics["attention"]["first_key_is_bos"] is True
    efficiency = metrics["efficiency"]
    assert efficiency["train_tokens_per_second_source"] == "results.json"
    assert efficiency["train_tokens_per_second"] == results["train"]["tokens_per_second"]
    assert efficiency["params"] == results["params"]


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_hf_tokenizer_dir):
    from mathpe_jax.data.hf_tokenizer import HFTokenizer

    return HFTokenizer(tiny_hf_tokenizer_dir)


def _text_config(dataset: str, data_dir, limit: int):
    return tiny_config(
        "rope",
        **{"task.name": dataset, "task.source": str(data_dir), "eval.limit": limit, "eval.max_new_tokens": 12,
           "eval.batch_size": 4},
    )


def _random_model(config, tokenizer) -> Decoder:
    return Decoder(ModelConfig.from_config(config.model.to_dict(), tokenizer.vocab_size), rngs=nnx.Rngs(0))


def test_gsm8k_evaluation_with_robustness(tmp_path, data_dir, hf_tokenizer) -> None:
    config = _text_config("gsm8k", data_dir, limit=8)
    result = evaluate(_random_model(config, hf_tokenizer), hf_tokenizer, EvalSpec.from_config(config), tmp_path)
    assert set(result) == {"gsm8k"}
    metrics = result["gsm8k"]
    predictions = _lines(tmp_path / "predictions.jsonl")
    _check_common(metrics, predictions, tmp_path)
    assert [p["id"] for p in predictions] == [f"gsm8k/test/{i}" for i in range(8)]
    assert all(p["prompt"].startswith("Question: ") and p["completion_tokens"] <= 12 for p in predictions)
    assert all(p["truncated"] == (p["completion_tokens"] == 12) for p in predictions)  # random weights: no EOS
    # Prompts are what tokenizer(text) gives, and this tokenizer's post-processor adds no BOS.
    assert metrics["attention"]["first_key_is_bos"] is False
    assert metrics["reasoning"]["mean_steps"] >= 1

    buckets = metrics["by_length_bucket"]
    low, high = buckets["edges"]
    assert buckets["unit"] == "question tokens" and low <= high
    assert sum(buckets[b]["n"] for b in ("short", "medium", "long")) == 8
    assert all(p["length_bucket"] == length_bucket(p["length"], (low, high)) for p in predictions)

    robustness = metrics["robustness"]
    assert set(robustness) == {"perturbed_numbers", "irrelevant_sentence", "rephrased"}
    assert all(entry["n"] + entry["skipped"] == 8 for entry in robustness.values())
    assert robustness["irrelevant_sentence"]["n"] == robustness["rephrased"]["n"] == 8
    assert robustness["rephrased"]["original"]["symbolic_accuracy"] == metrics["symbolic_accuracy"]
    changed = _lines(tmp_path / "robustness_predictions.jsonl")
    assert len(changed) == sum(entry["n"] for entry in robustness.values())
    assert all(set(p) == PREDICTION_FIELDS and "#" in p["id"] for p in changed)
    assert metrics["efficiency"]["train_tokens_per_second"] is None  # nothing was trained here


def test_math_evaluation_has_no_robustness(tmp_path, data_dir, hf_tokenizer) -> None:
    config = _text_config("math", data_dir, limit=4)
    metrics = evaluate(_random_model(config, hf_tokenizer), hf_tokenizer, EvalSpec.from_config(config), tmp_path)["math"]
    predictions = _lines(tmp_path / "predictions.jsonl")
    _check_common(metrics, predictions, tmp_path)
    assert "robustness" not in metrics and not (tmp_path / "robustness_predictions.jsonl").exists()
    assert predictions[0]["gold"] == "\\left( 3, \\frac{\\pi}{2} \\right)"


def test_randomized_training_positions_count_as_reaching_their_range(tmp_path) -> None:
    """With randomized positions training saw position values up to model.max_len - 1, however
    short its sequences: the coverage report measures training by that range."""
    config = tiny_config("learned", **{"train.positions": "randomized", "eval.examples_per_length": 2})
    spec = EvalSpec.from_config(config)
    assert spec.trained_positions == config.model.max_len
    assert EvalSpec.from_config(tiny_config("learned")).trained_positions == 0
    model = Decoder(ModelConfig.from_config(config.model.to_dict(), 32), rngs=nnx.Rngs(0))
    from mathpe_jax.data.tokenizer import CharTokenizer

    positions = evaluate(model, CharTokenizer(), spec, tmp_path)["positions"]
    assert positions["trained"] == config.model.max_len and positions["untrained"] == []
