"""Our LoRA adapters <-> the PEFT format, so an adapter trained here runs on the original HF model.

PEFT stores ``adapter_config.json`` and ``adapter_model.safetensors`` with keys like
``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``: A as ``[r, in]``, B as
``[out, r]`` (ours are ``[in, r]`` and ``[r, out]``), scaled by ``lora_alpha / r`` as here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from safetensors.numpy import load_file, save_file

from mathpe_jax.convert.architectures import architecture, linear_modules
from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.convert.safetensors_io import METADATA
from mathpe_jax.model.lora import LoRAConfig, adapter_config, apply_lora, lora_modules
from mathpe_jax.model.transformer import Decoder

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."
KEY = re.compile(r"base_model\.model\.(?P<module>.+)\.lora_(?P<which>[AB])\.weight")
# PEFT options whose other values change the computation; none of them exists here.
DEFAULTS = {
    "peft_type": "LORA",
    "bias": "none",
    "use_dora": False,
    "use_rslora": False,
    "fan_in_fan_out": False,
    "rank_pattern": {},
    "alpha_pattern": {},
    "modules_to_save": None,
    "layers_to_transform": None,
}


def _module_map(model: Decoder, hf_config: Mapping[str, Any]) -> dict[str, str]:
    return linear_modules(architecture(hf_config["model_type"]), model.config)


def _target_modules(targeted: list[str], all_modules: Iterable[str]) -> list[str]:
    """Leaf names (``q_proj``) when they select exactly the targeted modules, else full names."""
    leaves = sorted({name.rsplit(".", 1)[-1] for name in targeted})
    selected = {name for name in all_modules if name.rsplit(".", 1)[-1] in leaves}
    return leaves if selected == set(targeted) else sorted(targeted)


def export_peft(
    model: Decoder, out_dir: str | Path, hf_config_template: Mapping[str, Any], *, base_model: str | None = None
) -> Path:
    """Writes the model's adapters as a PEFT adapter for the Hugging Face model of ``hf_config_template``.

    ``base_model`` (a hub id or a directory; default the template's ``_name_or_path``) is recorded
    as ``base_model_name_or_path``, so PEFT and ``tools/solve.py`` find the base without being told.
    """
    config = adapter_config(model)
    modules = _module_map(model, hf_config_template)
    tensors = {}
    for path, layer in lora_modules(model).items():
        if path not in modules:
            raise ConversionError(
                f"LoRA on {path} has no single {hf_config_template['model_type']} module to export to"
            )
        a, b = (np.asarray(jax.device_get(v[...])) for v in (layer.lora.lora_a, layer.lora.lora_b))
        tensors[f"{PREFIX}{modules[path]}.lora_A.weight"] = np.ascontiguousarray(a.T)
        tensors[f"{PREFIX}{modules[path]}.lora_B.weight"] = np.ascontiguousarray(b.T)
    targeted = [modules[path] for path in lora_modules(model)]
    peft_config = {
        **DEFAULTS,
        "task_type": "CAUSAL_LM",
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": _target_modules(targeted, modules.values()),
        "base_model_name_or_path": base_model or hf_config_template.get("_name_or_path"),
        "inference_mode": True,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, out_dir / WEIGHTS_FILE, metadata=METADATA)
    (out_dir / CONFIG_FILE).write_text(json.dumps(peft_config, indent=2) + "\n")
    return out_dir


def load_peft(model: Decoder, adapter_dir: str | Path, hf_config_template: Mapping[str, Any]) -> Decoder:
    """Adds a PEFT LoRA adapter to ``model`` (which must have none yet), in place; returns ``model``."""
    adapter_dir = Path(adapter_dir)
    peft_config = json.loads((adapter_dir / CONFIG_FILE).read_text())
    for key, default in DEFAULTS.items():
        value = peft_config.get(key, default)
        if value != default and (value or default):  # None, {} and [] all mean "not used"
            raise ConversionError(f"PEFT {key}={peft_config[key]!r} is not supported (only {default!r})")
    if lora_modules(model):
        raise ConversionError("model already has LoRA adapters; load a PEFT adapter into a plain model")
    ours = {hf: path for path, hf in _module_map(model, hf_config_template).items()}
    weights: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in load_file(adapter_dir / WEIGHTS_FILE).items():
        match = KEY.fullmatch(key)
        if match is None:
            raise ConversionError(f"unexpected tensor {key!r} in {adapter_dir / WEIGHTS_FILE}")
        if match["module"] not in ours:
            raise ConversionError(f"PEFT module {match['module']!r} has no single counterpart here")
        weights.setdefault(ours[match["module"]], {})[match["which"]] = tensor
    pattern = "|".join(re.escape(path) for path in sorted(weights))
    config = LoRAConfig(
        rank=peft_config["r"],
        alpha=peft_config["lora_alpha"],
        dropout=peft_config["lora_dropout"],
        target_modules=pattern,
    )
    apply_lora(model, config)
    for path, layer in lora_modules(model).items():
        for which, variable in (("A", layer.lora.lora_a), ("B", layer.lora.lora_b)):
            if which not in weights[path]:
                raise ConversionError(f"missing tensor lora_{which} of PEFT module for {path}")
            value = weights[path][which].T
            if value.shape != variable[...].shape:
                raise ConversionError(
                    f"shape mismatch for lora_{which} of {path}: adapter {value.shape}, expected {variable[...].shape}"
                )
            variable.set_value(jax.device_put(value.astype(variable[...].dtype), variable[...].sharding))
    return model
