"""LoRA adapters exported in PEFT format run on the original transformers model as they run here.

Tolerance: logits within atol 1e-4, the same float32 reordering bound as the base conversion
(test_hf_parity); the adapters below move the logits by far more than that.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import nnx
from peft import PeftModel
from transformers import AutoModelForCausalLM

from mathpe_jax.convert import ConversionError, export_peft, load_hf, load_peft
from mathpe_jax.model.lora import LoRAConfig, LoRAParam, apply_lora, lora_modules
from tests.convert.tiny_hf import CONFIGS, hf_logits, our_logits

# Per architecture: our target regex and the PEFT target_modules it must export as.
TARGETS = {
    "llama": (r".*(attn|mlp)\.\w+_proj", ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]),
    "mistral": (r".*attn\.(q|v)_proj", ["q_proj", "v_proj"]),
    # A subset no leaf name describes: full module names.
    "qwen2": (
        r"layers\.0\.attn\.q_proj|layers\.1\.mlp\.down_proj",
        ["model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"],
    ),
}


def randomize_adapters(model, seed=0):
    """Nonzero A and B (B starts at zero, which would hide a transposed or misplaced B)."""
    keys = iter(jax.random.split(jax.random.key(seed), 2 * len(lora_modules(model))))
    for layer in lora_modules(model).values():
        for variable in (layer.lora.lora_a, layer.lora.lora_b):
            variable[...] = 0.2 * jax.random.normal(next(keys), variable[...].shape)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_peft_adapter_on_transformers_matches_our_lora(model_type, hf_dirs, prompt, tmp_path):
    pattern, peft_targets = TARGETS[model_type]
    model, _, hf_config = load_hf(hf_dirs[model_type])
    base_logits = our_logits(model, prompt)
    apply_lora(model, LoRAConfig(rank=4, alpha=8.0, dropout=0.05, target_modules=pattern))
    randomize_adapters(model)
    adapter = export_peft(model, tmp_path, hf_config)
    assert json.loads((adapter / "adapter_config.json").read_text())["target_modules"] == peft_targets

    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(hf_dirs[model_type]), adapter).eval()
    logits = our_logits(model, prompt)
    assert np.abs(logits - base_logits).max() > 0.1
    np.testing.assert_allclose(logits, hf_logits(peft_model, prompt), rtol=0, atol=1e-4)

    fresh, _, _ = load_hf(hf_dirs[model_type])
    load_peft(fresh, adapter, hf_config)
    ours, read_back = adapter_arrays(model), adapter_arrays(fresh)
    assert set(ours) == set(read_back)
    for path, value in ours.items():
        np.testing.assert_array_equal(read_back[path], value)


def adapter_arrays(model):
    return {path: np.asarray(v[...]) for path, v in nnx.to_flat_state(nnx.state(model, LoRAParam))}


def test_peft_options_we_cannot_compute_are_refused(hf_dirs, tmp_path):
    model, _, hf_config = load_hf(hf_dirs["llama"])
    apply_lora(model, LoRAConfig(rank=2))
    adapter = export_peft(model, tmp_path, hf_config)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    fresh, _, _ = load_hf(hf_dirs["llama"])
    with pytest.raises(ConversionError, match="use_dora=True"):
        load_peft(fresh, adapter, hf_config)
