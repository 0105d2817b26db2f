"""InternLM2: a tiny Llama repacked under InternLM2's names, with q/k/v fused into ``wqkv`` grouped
per kv head, must convert to the very same model as the Llama it came from."""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import save_file
from transformers import AutoModelForCausalLM

from mathpe_jax.convert import export_hf, load_hf
from mathpe_jax.convert.safetensors_io import METADATA, SINGLE, SafetensorsReader
from tests.convert.tiny_hf import assert_same_tensors, hf_logits, our_logits

RENAMES = {
    "model.embed_tokens.": "model.tok_embeddings.",
    "self_attn.o_proj": "attention.wo",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.up_proj": "feed_forward.w3",
    "mlp.down_proj": "feed_forward.w2",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
    "lm_head.": "output.",
}
SHARED_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
)


def fuse_qkv(q, k, v, heads, kv_heads):
    """InternLM2's row order, written out head by head: kv group j holds query heads
    j*G .. j*G+G-1, then key head j, then value head j (each head_dim rows)."""
    d = q.shape[0] // heads
    groups = heads // kv_heads
    rows = []
    for j in range(kv_heads):
        rows += [q[(j * groups + g) * d : (j * groups + g + 1) * d] for g in range(groups)]
        rows += [k[j * d : (j + 1) * d], v[j * d : (j + 1) * d]]
    return np.concatenate(rows)


def repack_as_internlm2(llama_dir, out):
    llama = json.loads((llama_dir / "config.json").read_text())
    config = {key: llama[key] for key in SHARED_KEYS}
    config.update(
        model_type="internlm2",
        architectures=["InternLM2ForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM",
        },
        bias=False,
        hidden_act="silu",
        rope_theta=llama["rope_parameters"]["rope_theta"],
        rope_scaling=None,
        torch_dtype="float32",
    )
    with SafetensorsReader(llama_dir) as reader:
        tensors = {name: reader.read(name) for name in reader.names()}
    packed = {}
    for name, tensor in tensors.items():
        if ".self_attn.q_proj." in name:
            prefix = name.split(".self_attn.")[0]
            packed[f"{prefix}.attention.wqkv.weight"] = fuse_qkv(
                tensor,
                tensors[f"{prefix}.self_attn.k_proj.weight"],
                tensors[f"{prefix}.self_attn.v_proj.weight"],
                config["num_attention_heads"],
                config["num_key_value_heads"],
            )
        elif not (".self_attn.k_proj." in name or ".self_attn.v_proj." in name):
            for old, new in RENAMES.items():
                name = name.replace(old, new)
            packed[name] = tensor
    out.mkdir()
    save_file(packed, out / SINGLE, metadata=METADATA)
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_internlm2_converts_to_the_llama_it_was_packed_from(hf_dirs, prompt, tmp_path):
    internlm2_dir = repack_as_internlm2(hf_dirs["llama"], tmp_path / "internlm2")
    model, cfg, hf_config = load_hf(internlm2_dir)
    llama, llama_cfg, _ = load_hf(hf_dirs["llama"])
    assert cfg == llama_cfg and cfg.num_heads // cfg.num_kv_heads == 2
    logits = our_logits(model, prompt)
    np.testing.assert_array_equal(logits, our_logits(llama, prompt))
    reference = AutoModelForCausalLM.from_pretrained(hf_dirs["llama"])
    np.testing.assert_allclose(logits, hf_logits(reference, prompt), rtol=0, atol=1e-4)
    assert_same_tensors(internlm2_dir, export_hf(model, tmp_path / "exported", hf_config))
