"""config.json -> ModelConfig for transformers 4.x and 5.x spellings, and its one-line refusals."""

from __future__ import annotations

import warnings

import pytest

from mathpe_jax.convert import ConversionError
from mathpe_jax.convert.hf_config import exported_hf_config, model_config

BASE = {
    "model_type": "llama",
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 1024,
}


def test_transformers_4_spelling():
    hf = {**BASE, "rope_theta": 500000.0, "rope_scaling": {"type": "linear", "factor": 2.0}, "torch_dtype": "bfloat16"}
    cfg = model_config(hf)
    assert dict(cfg.pe_options) == {"base": 500000.0, "scaling": "linear", "factor": 2.0}
    assert cfg.num_kv_heads == 4 and cfg.head_dim == 16 and not cfg.tie_embeddings and cfg.param_dtype == "float32"
    assert exported_hf_config(hf, cfg, "float32")["torch_dtype"] == "float32"


def test_transformers_5_spelling():
    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    hf = {**BASE, "rope_parameters": rope, "dtype": "bfloat16", "num_key_value_heads": 2, "head_dim": 32}
    cfg = model_config(hf, dtype="bfloat16")
    assert dict(cfg.pe_options) == {
        "base": 500000.0,
        "scaling": "llama3",
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_len": 8192,
    }
    assert (cfg.num_kv_heads, cfg.head_dim, cfg.max_len, cfg.dtype) == (2, 32, 1024, "bfloat16")
    assert "torch_dtype" not in exported_hf_config(hf, cfg, "float32")


def test_yarn_takes_transformers_defaults_and_keeps_given_options():
    rope = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256, "mscale": 0.707}
    cfg = model_config({**BASE, "rope_parameters": {**rope, "mscale_all_dim": 1.0, "beta_fast": None}})
    assert dict(cfg.pe_options) == {
        "base": 10000.0,
        "scaling": "yarn",
        "factor": 4.0,
        "original_max_len": 256,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "truncate": True,
        "mscale": 0.707,
        "mscale_all_dim": 1.0,
    }
    old_style = {"type": "yarn", "original_max_position_embeddings": 256, "truncate": False, "attention_factor": 1.2}
    hf = {**BASE, "rope_scaling": old_style}
    cfg = model_config(hf)
    options = dict(cfg.pe_options)
    assert (options["factor"], options["truncate"], options["attention_factor"]) == (4.0, False, 1.2)  # 1024 / 256
    assert exported_hf_config(hf, cfg, "float32")["rope_scaling"] == old_style


def test_dynamic_measures_against_max_position_embeddings():
    hf = {**BASE, "rope_scaling": {"type": "dynamic", "factor": 2.0}}
    cfg = model_config(hf)
    assert dict(cfg.pe_options) == {"base": 10000.0, "scaling": "dynamic", "factor": 2.0, "original_max_len": 1024}
    assert exported_hf_config(hf, cfg, "float32")["rope_scaling"] == {"type": "dynamic", "factor": 2.0}


def test_qwen2_has_qkv_bias():
    assert model_config({**BASE, "model_type": "qwen2"}).qkv_bias


def test_mistral_keeps_its_sliding_window_and_qwen2_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model_config({**BASE, "model_type": "mistral", "sliding_window": 256}).sliding_window == 256
        assert model_config({**BASE, "model_type": "mistral", "sliding_window": None}).sliding_window == 0
        qwen2_off = model_config({**BASE, "model_type": "qwen2", "sliding_window": 256, "use_sliding_window": False})
        assert qwen2_off.sliding_window == 0
    with pytest.warns(UserWarning, match="sliding_window=256"):
        model_config({**BASE, "model_type": "qwen2", "sliding_window": 256, "use_sliding_window": True})


@pytest.mark.parametrize(
    "changes, culprit",
    [
        ({"model_type": "gpt2"}, "model_type='gpt2'"),
        ({"rope_scaling": {"rope_type": "longrope", "factor": 4.0}}, "rope_type='longrope'"),
        ({"rope_parameters": {"rope_type": "dynamic-yarn", "factor": 2.0}}, "rope_type='dynamic-yarn'"),
        ({"rope_parameters": {"rope_type": "dynamic"}}, "needs 'factor'"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu'"),
        ({"attention_bias": True}, "attention_bias=True"),
        ({"model_type": "internlm2", "bias": True}, "bias=True"),
        ({"intermediate_size": None}, "'intermediate_size'"),
        ({"num_hidden_layers": 100_000}, "num_hidden_layers=100000 is out of range: a whole number from 1 to 4096"),
        ({"hidden_size": "64"}, "hidden_size='64' is out of range"),
        ({"vocab_size": 0}, "vocab_size=0 is out of range"),
        ({"num_key_value_heads": True}, "num_key_value_heads=True is out of range"),
    ],
)
def test_unsupported_configs_stop_with_one_line(changes, culprit):
    with pytest.raises(ConversionError, match=culprit) as err:
        model_config({**BASE, **changes})
    assert "\n" not in str(err.value)


def test_export_refuses_a_model_the_config_does_not_describe():
    cfg = model_config(BASE).replace(pe_name="alibi", pe_options=())
    with pytest.raises(ConversionError, match="model.pe_name='alibi'"):
        exported_hf_config(BASE, cfg, "float32")
