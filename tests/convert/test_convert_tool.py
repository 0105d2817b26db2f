"""tools/convert_hf.py both ways, as a user runs it from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from mathpe_jax.convert.load import load_hf
from mathpe_jax.model.lora import LoRAConfig, apply_lora, lora_modules, save_adapter
from tests.convert.tiny_hf import assert_same_tensors

REPO = Path(__file__).resolve().parents[2]


def convert(*flags: str) -> None:
    subprocess.run([sys.executable, "tools/convert_hf.py", *flags], cwd=REPO, check=True, capture_output=True)


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
    exported = load_file(hf_out / "peft" / "adapter_model.safetensors")
    for path, layer in lora_modules(model).items():
        key = f"base_model.model.model.layers.{path.split('.')[1]}.mlp.up_proj.lora_A.weight"
        np.testing.assert_array_equal(exported[key], np.asarray(layer.lora.lora_a[...]).T)
