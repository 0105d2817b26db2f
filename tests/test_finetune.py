"""LoRA fine-tuning of a converted checkpoint (the session's ``tiny_hf_checkpoint``) on GSM8K
through the main entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mathpe_jax.main import run
from tests.conftest import run_tool
from tests.helpers_run import override

FINETUNE = {
    "task.train_limit": 64,
    "task.max_len": 512,
    "task.length_quantum": 512,  # one batch length: the step compiles once
    "train.steps": 12,
    "train.batch_size": 8,
    "train.learning_rate": 1e-2,
    "train.warmup_steps": 2,
    "train.log_every": 4,
    "train.checkpoint_every": 6,
    "eval.limit": 4,
    "eval.batch_size": 4,
    "eval.max_new_tokens": 16,
}


def finetune_config(checkpoint, **overrides):
    from configs import finetune_gsm8k

    return override(finetune_gsm8k.get_config(), {"init.hf_dir": str(checkpoint), **FINETUNE, **overrides})


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, tiny_hf_checkpoint):
    workdir = tmp_path_factory.mktemp("finetune")
    results = run(finetune_config(tiny_hf_checkpoint), workdir, "train")
    return workdir, results


@pytest.mark.slow
def test_lora_finetuning_lowers_the_loss_and_writes_adapters(finetuned):
    workdir, results = finetuned
    losses = [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    assert (workdir / "adapter" / "lora.safetensors").is_file()
    assert (workdir / "adapter_peft" / "adapter_model.safetensors").is_file()
    assert results["task"] == "gsm8k" and results["step"] == 12
    assert "gsm8k" in results["eval"]


@pytest.mark.slow
def test_checkpoints_hold_only_the_adapters(finetuned):
    import orbax.checkpoint as ocp

    workdir, _ = finetuned
    restored = ocp.StandardCheckpointer().restore(workdir / "checkpoints" / "12" / "params")
    flat = {"/".join(map(str, k)): v for k, v in _flatten(restored["params"])}
    assert flat and all("lora" in name for name in flat)


def _flatten(tree, prefix=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flatten(v, prefix + (k,))
    else:
        yield prefix, tree


@pytest.mark.slow
@pytest.mark.subprocess
def test_solve_tool_runs_on_the_run_directory(finetuned, tiny_hf_checkpoint):
    from transformers import AutoTokenizer

    from mathpe_jax.data.tasks import make_task

    workdir, _ = finetuned
    problem = "A train travels 120 miles in 2 hours. What is its speed?"
    done = run_tool("solve.py", f"--checkpoint={workdir}", f"--problem={problem}", "--max_new_tokens=12", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"completion", "answer", "prompt_token_ids", "completion_token_ids"} <= set(out)
    assert 1 <= len(out["completion_token_ids"]) <= 12
    # The run's own template, encoded exactly as the base's tokenizer encodes it (its specials included).
    prompt = make_task(finetune_config(tiny_hf_checkpoint).task).prompt(problem)
    assert out["prompt_token_ids"] == AutoTokenizer.from_pretrained(tiny_hf_checkpoint)(prompt)["input_ids"]


@pytest.mark.slow
def test_swapping_the_pe_trains_its_parameters_with_the_adapters(tmp_path, tiny_hf_checkpoint):
    from ml_collections import ConfigDict
    from safetensors.numpy import load_file

    config = finetune_config(tiny_hf_checkpoint, **{"train.steps": 4, "train.checkpoint_every": 4, "eval.limit": 1})
    config.model.pe = ConfigDict({"name": "t5", "num_buckets": 8, "max_distance": 32})
    run(config, tmp_path, "train")
    arrays = load_file(tmp_path / "adapter" / "lora.safetensors")
    table = arrays["pe.table"]
    assert table.shape == (8, 4) and not np.allclose(table, 0.0)
    assert not (tmp_path / "adapter_peft").exists()  # transformers has no T5-bias Llama
