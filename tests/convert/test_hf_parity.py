"""Converted llama / mistral / qwen2 models compute what transformers computes.

Tolerance: float32 logits within atol 1e-4. Both sides run the same float32 arithmetic in a
different order (XLA vs PyTorch kernels, softmax and RMSNorm reductions, scaled RoPE frequencies),
which leaves differences of ~1e-5 on these logits (|logit| ~ 4); a wrong weight layout, RoPE
convention, frequency scaling or head grouping moves them by ~1e-1 or more.
"""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoModelForCausalLM

from mathpe_jax.convert import load_hf
from mathpe_jax.convert.safetensors_io import INDEX
from tests.convert.tiny_hf import CONFIGS, hf_greedy, hf_logits, our_greedy, our_logits, save_hf, tiny_hf_model

ATOL = 1e-4
GREEDY_STEPS = 32


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_logits_and_greedy_match_transformers(model_type, hf_dirs, prompt):
    reference = AutoModelForCausalLM.from_pretrained(hf_dirs[model_type]).eval()
    model, _, hf_config = load_hf(hf_dirs[model_type])
    assert hf_config["model_type"] == model_type
    assert (hf_dirs[model_type] / INDEX).is_file() == (model_type == "mistral")  # one sharded checkpoint
    np.testing.assert_allclose(our_logits(model, prompt), hf_logits(reference, prompt), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(our_greedy(model, prompt, GREEDY_STEPS), hf_greedy(reference, prompt, GREEDY_STEPS))


@pytest.mark.parametrize(
    "rope_scaling",
    [
        {"rope_type": "linear", "factor": 4.0},
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,  # puts the tiny model's wavelengths on both sides
        },
    ],
    ids=lambda s: s["rope_type"],
)
def test_scaled_rope_matches_transformers(rope_scaling, tmp_path, prompt):
    reference = tiny_hf_model("llama", num_hidden_layers=1, rope_scaling=rope_scaling, rope_theta=500000.0)
    model, cfg, _ = load_hf(save_hf(reference, tmp_path))
    assert dict(cfg.pe_options)["scaling"] == rope_scaling["rope_type"]
    np.testing.assert_allclose(our_logits(model, prompt), hf_logits(reference, prompt), rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    "rope_scaling, length",
    [
        ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}, 80),
        ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "truncate": False}, 80),
        ({"rope_type": "dynamic", "factor": 4.0}, 80),
        ({"rope_type": "dynamic", "factor": 4.0}, 20),
        ({"rope_type": "linear", "factor": 4.0}, 80),
    ],
    ids=["yarn", "yarn-untruncated", "dynamic-long", "dynamic-short", "linear"],
)
def test_context_extension_matches_transformers(rope_scaling, length, tmp_path, prompt):
    """An original context of 32 positions (max_position_embeddings for dynamic, which measures
    against it; 128 = 4 x 32 for yarn), so an 80-token prompt runs past it and a 20-token one not."""
    max_len = 32 if rope_scaling["rope_type"] == "dynamic" else 128
    reference = tiny_hf_model("llama", num_hidden_layers=1, max_position_embeddings=max_len, rope_scaling=rope_scaling)
    model, cfg, _ = load_hf(save_hf(reference, tmp_path))
    assert dict(cfg.pe_options)["scaling"] == rope_scaling["rope_type"]
    ids = prompt[:, :length]
    # ATOL: both float32, in a different op order (~3e-6 seen); the scaling's absence moves logits ~2.5
    np.testing.assert_allclose(our_logits(model, ids), hf_logits(reference, ids), rtol=0, atol=ATOL)


def test_dynamic_rope_decodes_past_the_original_context_like_transformers(tmp_path, prompt):
    """A 20-token prompt and 40 cached steps: the base grows at every step past position 32, and
    cached keys keep the rotation they were written with, in transformers' generate as here."""
    reference = tiny_hf_model(
        "llama", num_hidden_layers=1, max_position_embeddings=32, rope_scaling={"rope_type": "dynamic", "factor": 4.0}
    )
    model, _, _ = load_hf(save_hf(reference, tmp_path))
    ids = prompt[:, :20]
    np.testing.assert_array_equal(our_greedy(model, ids, 40), hf_greedy(reference, ids, 40))


def test_mistral_sliding_window_matches_transformers(tmp_path, prompt):
    """A window of 40 on the 260-token prompt: most keys of late queries are outside it, and the
    window crosses the 128-row query blocks. Greedy decoding then runs past it with the KV cache."""
    reference = tiny_hf_model("mistral", sliding_window=40)
    model, cfg, _ = load_hf(save_hf(reference, tmp_path))
    assert cfg.sliding_window == 40
    np.testing.assert_allclose(our_logits(model, prompt), hf_logits(reference, prompt), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(our_greedy(model, prompt, GREEDY_STEPS), hf_greedy(reference, prompt, GREEDY_STEPS))


def test_bfloat16_conversion_keeps_values_and_dtype(hf_dirs):
    model, cfg, _ = load_hf(hf_dirs["llama"], dtype="bfloat16")
    full, _, _ = load_hf(hf_dirs["llama"])
    kernel = model.layers[0].attn.q_proj.kernel[...]
    assert cfg.param_dtype == cfg.dtype == "bfloat16" and kernel.dtype.name == "bfloat16"
    np.testing.assert_array_equal(
        np.asarray(kernel, np.float32),
        np.asarray(full.layers[0].attn.q_proj.kernel[...].astype(kernel.dtype), np.float32),
    )
