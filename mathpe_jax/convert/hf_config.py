"""Hugging Face ``config.json`` <-> ``ModelConfig``, in both the transformers 4.x and 5.x spellings.

4.x writes ``rope_theta`` and ``rope_scaling`` at the top level and ``torch_dtype``; 5.x nests them
in ``rope_parameters`` and writes ``dtype``. Both are read; an export keeps the template's spelling.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mathpe_jax.convert.architectures import architecture
from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.model.config import DTYPES, ModelConfig

# A Hugging Face model directory's config; a run directory has a config.json of its own
# (``run.layout.CONFIG``), which is a run config, not this.
HF_CONFIG = "config.json"
ROPE_TYPES = ("default", "linear", "llama3", "yarn", "dynamic")
DTYPE_KEYS = ("dtype", "torch_dtype")  # transformers 5.x, 4.x
# Fields a Hugging Face config cannot express; they never make a model unexportable.
RUNTIME_FIELDS = ("dtype", "param_dtype", "attention_impl", "remat", "scan_layers")
# Fields that the tokenizer decides, not the weights: the exported tokenizer carries them.
TOKENIZER_FIELDS = ("digit_ids",)
# Bounds far beyond any released model (the largest have ~130 layers, width 16384, vocabularies of
# 256k): a config past them is damaged or hostile, and is refused before it sizes anything.
LAYER_LIMIT = 4096
DIMENSION_LIMITS = {
    "vocab_size": 1 << 22,
    "hidden_size": 1 << 17,
    "intermediate_size": 1 << 20,
    "num_attention_heads": 1 << 12,
    "num_key_value_heads": 1 << 12,
    "head_dim": 1 << 14,
}
ARCHITECTURE_CLASSES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}


def read_hf_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a Hugging Face model directory."""
    path = Path(directory) / HF_CONFIG
    if not path.is_file():
        raise ConversionError(f"no {HF_CONFIG} in {directory}")
    try:
        hf = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConversionError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(hf, dict):
        raise ConversionError(f"{path} holds a JSON {type(hf).__name__}, not an object")
    return hf


def template_for(cfg: ModelConfig) -> dict[str, Any]:
    """A Hugging Face config describing a model trained here (no checkpoint to take one from).

    Llama, or Qwen2 when q/k/v carry biases, or Mistral with a sliding window; ``exported_hf_config``
    then refuses what none of them can express (any PE but plain RoPE, for one).
    """
    model_type = "mistral" if cfg.sliding_window else "qwen2" if cfg.qkv_bias else "llama"
    options = dict(cfg.pe_options)
    hf: dict[str, Any] = {
        "model_type": model_type,
        "architectures": [ARCHITECTURE_CLASSES[model_type]],
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.width,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "intermediate_size": cfg.mlp_dim,
        "max_position_embeddings": cfg.max_len,
        "rms_norm_eps": cfg.norm_eps,
        "tie_word_embeddings": cfg.tie_embeddings,
        "hidden_act": "silu",
        "rope_theta": float(options.get("base", 10000.0)),
    }
    if cfg.sliding_window:
        hf["sliding_window"] = cfg.sliding_window
    if model_type == "qwen2":
        hf["use_sliding_window"] = False
    return hf


def _without_defaults(pe_options: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """RoPE options with the ones that change nothing (``fraction=1``) left out, for comparison."""
    return tuple((k, v) for k, v in pe_options if (k, v) != ("fraction", 1.0))


def _required(hf: Mapping[str, Any], key: str) -> Any:
    if hf.get(key) is None:
        raise ConversionError(f"config.json has no {key!r} (model_type={hf.get('model_type')!r})")
    return hf[key]


def rope_options(hf: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Options of our ``rope`` PE reproducing the checkpoint's rotary embedding."""
    params = {**(hf.get("rope_scaling") or {}), **(hf.get("rope_parameters") or {})}
    if any(isinstance(v, Mapping) for v in params.values()):
        raise ConversionError(f"per-layer-type rope_parameters are not supported: {sorted(params)}")
    theta = float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise ConversionError(f"unsupported rope scaling rope_type={kind!r}; supported: {ROPE_TYPES}")
    if float(params.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))) != 1.0:
        raise ConversionError("partial_rotary_factor != 1 is not supported for this architecture")

    def need(key: str) -> float:
        if params.get(key) is None:
            raise ConversionError(f"rope scaling rope_type={kind!r} needs {key!r} in config.json")
        return float(params[key])

    options: dict[str, Any] = {"base": theta}
    if kind == "linear":
        options.update(scaling="linear", factor=need("factor"))
    elif kind == "llama3":
        options.update(
            scaling="llama3",
            factor=need("factor"),
            low_freq_factor=need("low_freq_factor"),
            high_freq_factor=need("high_freq_factor"),
            original_max_len=int(need("original_max_position_embeddings")),
        )
    elif kind == "yarn":
        options.update(_yarn_options(hf, params))
    elif kind == "dynamic":
        # transformers' dynamic NTK measures against max_position_embeddings, not an original length.
        original = int(_required(hf, "max_position_embeddings"))
        options.update(scaling="dynamic", factor=need("factor"), original_max_len=original)
    return tuple(sorted(options.items()))


def _yarn_options(hf: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """transformers' reading of a yarn config: a top-level ``original_max_position_embeddings``
    wins (Phi-3 style), then the one in the rope parameters, then ``max_position_embeddings``; a
    missing ``factor`` is ``max_position_embeddings / original``; a missing or zero beta takes its
    default; ``mscale`` / ``mscale_all_dim`` / ``attention_factor`` are kept only when given."""
    max_len = _required(hf, "max_position_embeddings")
    key = "original_max_position_embeddings"
    original = int(hf.get(key) or params.get(key) or max_len)
    options: dict[str, Any] = {
        "scaling": "yarn",
        "factor": float(params.get("factor") or max_len / original),
        "original_max_len": original,
        "beta_fast": float(params.get("beta_fast") or 32.0),
        "beta_slow": float(params.get("beta_slow") or 1.0),
        "truncate": bool(params.get("truncate", True)),
    }
    for key in ("attention_factor", "mscale", "mscale_all_dim"):
        if params.get(key) is not None:
            options[key] = float(params[key])
    return options


def _check_sizes(hf: Mapping[str, Any]) -> None:
    """Each size present is a whole number within its bound (absent ones are ``_required``'s to report)."""
    for key, limit in {"num_hidden_layers": LAYER_LIMIT, **DIMENSION_LIMITS}.items():
        value = hf.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit):
            raise ConversionError(f"config.json {key}={value!r} is out of range: a whole number from 1 to {limit}")


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ConversionError(f"dtype={dtype!r} is not one of {sorted(DTYPES)}")


def _config_fields(hf: Mapping[str, Any], dtype: str) -> ModelConfig:
    _check_dtype(dtype)
    _check_sizes(hf)
    arch = architecture(_required(hf, "model_type"))
    act = hf.get("hidden_act", "silu")
    if act != "silu":
        raise ConversionError(f"hidden_act={act!r} is not supported; the MLP is SwiGLU (silu)")
    width, heads = _required(hf, "hidden_size"), _required(hf, "num_attention_heads")
    return ModelConfig(
        vocab_size=_required(hf, "vocab_size"),
        width=width,
        num_layers=_required(hf, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        mlp_dim=_required(hf, "intermediate_size"),
        head_dim=hf.get("head_dim") or width // heads,
        max_len=_required(hf, "max_position_embeddings"),
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=arch.qkv_bias(hf),
        pe_name="rope",
        pe_options=rope_options(hf),
        dtype=dtype,
        param_dtype=dtype,
    )


def model_config(hf: Mapping[str, Any], *, dtype: str = "float32") -> ModelConfig:
    """Our ``ModelConfig`` for a Hugging Face config; params and activations in ``dtype``.

    Mistral's sliding window applies to every layer and is kept. Qwen2's applies only from layer
    ``max_window_layers`` on, which one window for the whole model cannot express: a Qwen2 window
    shorter than the context is accepted with a warning, as attention here is then full.
    """
    cfg = _config_fields(hf, dtype)
    window = hf.get("sliding_window")
    if hf["model_type"] == "mistral" and window:
        return cfg.replace(sliding_window=int(window))
    if hf.get("use_sliding_window", False) and window is not None and window < cfg.max_len:
        warnings.warn(
            f"{hf['model_type']} sliding_window={window} < max_position_embeddings={cfg.max_len}: "
            f"attention here is full, so outputs differ from the original beyond {window} tokens",
            stacklevel=2,
        )
    return cfg


def exported_hf_config(template: Mapping[str, Any], cfg: ModelConfig, dtype: str) -> dict[str, Any]:
    """``template`` with ``dtype`` recorded; refuses a model the template does not describe.

    The check catches, for example, a model whose PE was swapped for one a Hugging Face
    architecture cannot express.
    """
    _check_dtype(dtype)
    described = _config_fields(template, cfg.param_dtype)
    cfg = cfg.replace(pe_options=_without_defaults(cfg.pe_options))
    for field in ModelConfig.__dataclass_fields__:
        if field not in RUNTIME_FIELDS + TOKENIZER_FIELDS and getattr(cfg, field) != getattr(described, field):
            raise ConversionError(
                f"model.{field}={getattr(cfg, field)!r} differs from the Hugging Face config's "
                f"{getattr(described, field)!r}; a {template['model_type']} checkpoint cannot express it"
            )
    key = next((k for k in DTYPE_KEYS if k in template), DTYPE_KEYS[0])
    return {**template, key: dtype}
