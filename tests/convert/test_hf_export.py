"""Hugging Face -> ours -> Hugging Face gives back the very same tensors and config."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoModelForCausalLM

from mathpe_jax.convert import export_hf, load_hf
from mathpe_jax.convert.safetensors_io import INDEX
from tests.convert.tiny_hf import CONFIGS, assert_same_tensors, hf_logits


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_round_trip_is_bit_identical(model_type, hf_dirs, tmp_path):
    model, _, hf_config = load_hf(hf_dirs[model_type])
    out = export_hf(model, tmp_path, hf_config)
    assert_same_tensors(hf_dirs[model_type], out)
    assert json.loads((out / "config.json").read_text()) == hf_config


def test_sharded_export_loads_in_transformers(hf_dirs, prompt, tmp_path):
    model, _, hf_config = load_hf(hf_dirs["llama"])
    out = export_hf(model, tmp_path, hf_config, max_shard_bytes=40_000)
    assert (out / INDEX).is_file() and len(list(out.glob("model-*-of-*.safetensors"))) > 1
    original = AutoModelForCausalLM.from_pretrained(hf_dirs["llama"])
    exported = AutoModelForCausalLM.from_pretrained(out)
    np.testing.assert_array_equal(hf_logits(exported, prompt), hf_logits(original, prompt))


def test_bfloat16_export_records_its_dtype(hf_dirs, tmp_path):
    model, _, hf_config = load_hf(hf_dirs["qwen2"], dtype="bfloat16")
    out = export_hf(model, tmp_path, hf_config)
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert_same_tensors(hf_dirs["qwen2"], out, dtype=model.layers[0].attn.q_proj.kernel[...].dtype)
