"""tools/convert_hf.py both ways, as a user runs it: outputs never overwritten, any run exported,
damaged inputs named in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from mathpe_jax.convert.load import load_hf
from mathpe_jax.model.lora import LoRAConfig, apply_lora, lora_modules, save_adapter
from tests.conftest import run_tool
from tests.convert.tiny_hf import assert_same_tensors
from tests.data.conftest import tiny_hf_tokenizer_dir  # noqa: F401 - fixture
from tests.helpers_hf import tiny_checkpoint
from tests.helpers_run import run_main


def convert(*flags: str) -> str:
    done = run_tool("convert_hf.py", *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def convert_fails(*flags: str) -> str:
    """The ``error:`` line that ends a refused conversion (earlier lines are progress, never a traceback)."""
    done = run_tool("convert_hf.py", *flags)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error: "), done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not any(line.startswith("W") for line in lines), done.stderr[-3000:]
    return lines[-1]


def test_hf_to_checkpoint_to_hf_with_adapter(hf_dirs, tmp_path):
    checkpoint, hf_out, adapter = tmp_path / "ckpt", tmp_path / "hf", tmp_path / "lora"
    convert(f"--hf_dir={hf_dirs['mistral']}", f"--out={checkpoint}")
    assert json.loads((checkpoint / "model_config.json").read_text())["pe_name"] == "rope"

    model, _, _ = load_hf(hf_dirs["mistral"])
    apply_lora(model, LoRAConfig(rank=2, target_modules=r".*mlp\.up_proj"))
    save_adapter(model, adapter)
    convert("--to_hf", f"--checkpoint={checkpoint}", f"--out={hf_out}", f"--adapter={adapter}")
    assert_same_tensors(hf_dirs["mistral"], hf_out)
    peft_config = json.loads((hf_out / "peft" / "adapter_config.json").read_text())
    assert peft_config["target_modules"] == ["up_proj"] and peft_config["r"] == 2
    assert peft_config["base_model_name_or_path"] == str(hf_out.absolute())
    exported = load_file(hf_out / "peft" / "adapter_model.safetensors")
    for path, layer in lora_modules(model).items():
        key = f"base_model.model.model.layers.{path.split('.')[1]}.mlp.up_proj.lora_A.weight"
        np.testing.assert_array_equal(exported[key], np.asarray(layer.lora.lora_a[...]).T)


def test_a_non_empty_out_is_refused_unless_overwrite(hf_dirs, tmp_path):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"the user's own weights")
    (out / "notes.txt").write_text("keep me")
    line = convert_fails(f"--hf_dir={hf_dirs['llama']}", f"--out={out}")
    assert f"--out={out} is not empty" in line and "--overwrite" in line
    assert (out / "model.safetensors").read_bytes() == b"the user's own weights"

    ckpt = tmp_path / "ckpt"
    convert(f"--hf_dir={hf_dirs['llama']}", f"--out={ckpt}")
    convert(f"--hf_dir={hf_dirs['llama']}", f"--out={ckpt}", "--overwrite")  # a second conversion replaces the first
    convert("--to_hf", f"--checkpoint={ckpt}", f"--out={out}", "--overwrite")
    assert_same_tensors(hf_dirs["llama"], out)
    assert (out / "notes.txt").read_text() == "keep me"  # only what a conversion writes is replaced


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:200]), "model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage" * 100), "model.safetensors is not a readable"),
        (lambda d: (d / "config.json").write_text('{"model_type": "llama",'), "config.json is not valid JSON"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "config.json holds a JSON list"),
    ],
)
def test_damaged_inputs_are_named_in_one_line(hf_dirs, tmp_path, damage, needle):
    source = tmp_path / "src"
    shutil.copytree(hf_dirs["llama"], source)
    damage(source)
    line = convert_fails(f"--hf_dir={source}", f"--out={tmp_path / 'out'}")
    assert needle in line and str(source) in line


def test_a_run_trained_from_scratch_exports_to_transformers(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from mathpe_jax.inference import load_checkpoint

    workdir = tmp_path / "run"
    done = run_main(workdir, "rope", **{"train.steps": 4, "train.checkpoint_every": 4, "eval.examples_per_length": 2})
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "hf"
    stderr = convert("--to_hf", f"--checkpoint={workdir}", f"--out={out}")
    assert "warning: the run's CharTokenizer has no Hugging Face form" in stderr

    ours = load_checkpoint(str(workdir)).model
    ids = np.arange(3, 40, dtype=np.int32)[None] % ours.config.vocab_size
    theirs = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids, dtype=torch.long)).logits.numpy()
    positions = np.arange(ids.shape[1], dtype=np.int32)[None]
    np.testing.assert_allclose(np.asarray(ours(ids, positions).logits), expected, atol=2e-4, rtol=2e-4)


def test_a_run_with_a_pe_transformers_lacks_is_refused_in_one_line(tmp_path):
    workdir = tmp_path / "run"
    done = run_main(workdir, "alibi", **{"train.steps": 2, "train.checkpoint_every": 2, "eval.examples_per_length": 2})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model.pe_name='alibi'" in convert_fails("--to_hf", f"--checkpoint={workdir}", f"--out={tmp_path / 'hf'}")


def test_a_lora_run_exports_merged_and_as_peft_on_its_base(tmp_path, tiny_hf_tokenizer_dir):  # noqa: F811
    """The merged export and transformers + peft on the base agree: both are the fine-tuned model."""
    import subprocess
    import sys

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tests.conftest import REPO_ROOT

    base = tiny_checkpoint(tmp_path / "base", tiny_hf_tokenizer_dir)
    workdir = tmp_path / "run"
    settings = {
        "init.hf_dir": base, "lora.rank": 2, "task.train_limit": 16, "train.steps": 4, "train.batch_size": 4,
        "train.learning_rate": 1e-2, "train.warmup_steps": 1, "train.log_every": 2, "train.checkpoint_every": 4,
        "eval.limit": 2, "eval.batch_size": 2, "eval.max_new_tokens": 4,
    }
    command = [sys.executable, "-m", "mathpe_jax.main", "--config=configs/finetune_gsm8k.py", f"--workdir={workdir}"]
    command += [f"--config.{key}={value}" for key, value in settings.items()]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "hf"
    convert("--to_hf", f"--checkpoint={workdir}", f"--out={out}")
    assert json.loads((out / "peft" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    ids = torch.arange(3, 300).reshape(1, -1)  # long: RoPE is the identity at position 0
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), out / "peft")
    with torch.no_grad():
        np.testing.assert_allclose(
            merged(ids).logits.numpy(), adapted.eval()(ids).logits.numpy(), atol=1e-4, rtol=1e-4
        )
        plain = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()(ids).logits.numpy()
    assert not np.allclose(merged(ids).logits.detach().numpy(), plain, atol=1e-4)  # the adapters did change it
    assert (out / "tokenizer.json").is_file() or (out / "tokenizer_config.json").is_file()
