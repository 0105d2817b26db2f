"""Our ``Decoder`` -> a Hugging Face model directory that ``AutoModelForCausalLM`` loads.

Tensors are gathered to the host one Hugging Face tensor at a time and written in shards, so host
memory holds at most one shard. InternLM2 models are written under their own names (fused ``wqkv``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from mathpe_jax.convert.architectures import architecture
from mathpe_jax.convert.hf_config import HF_CONFIG, exported_hf_config
from mathpe_jax.convert.safetensors_io import write_safetensors
from mathpe_jax.model.config import DTYPES
from mathpe_jax.model.lora import base_params
from mathpe_jax.model.transformer import Decoder

MAX_SHARD_BYTES = 2 * 1024**3


def export_hf(
    model: Decoder,
    out_dir: str | Path,
    hf_config_template: Mapping[str, Any],
    *,
    dtype: str | None = None,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> Path:
    """Writes ``config.json`` and ``model.safetensors`` (or shards and an index) to ``out_dir``.

    ``hf_config_template`` is the Hugging Face config the model came from (``load_hf``'s third
    value); it must describe the model. Tensors are written in ``dtype``, by default the model's
    parameter dtype, so nothing is rounded unless asked for. LoRA adapters must be merged first.
    """
    cfg = model.config
    dtype = dtype or cfg.param_dtype
    hf = exported_hf_config(hf_config_template, cfg, dtype)
    arch = architecture(hf["model_type"])
    variables = dict(nnx.to_flat_state(base_params(model)))
    np_dtype = np.dtype(DTYPES[dtype])

    def tensors() -> Iterator[tuple[str, np.ndarray]]:
        for m in arch.tensor_maps(cfg):
            arrays = [np.asarray(jax.device_get(variables[path][...])) for path in m.paths]
            yield m.hf_name, m.to_hf(*arrays).astype(np_dtype)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_safetensors(out_dir, tensors(), max_shard_bytes)
    (out_dir / HF_CONFIG).write_text(json.dumps(hf, indent=2, sort_keys=True) + "\n")
    return out_dir
