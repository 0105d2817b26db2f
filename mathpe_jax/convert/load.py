"""Hugging Face checkpoint -> our ``Decoder``, streamed one tensor at a time onto its sharding.

Once the file headers are known to hold every tensor the config implies (``fit.check_tensors``),
the model is built abstractly (shapes only, ``nnx.eval_shape``); each variable is then filled
straight from its tensor and placed on the device(s) its logical axes name, so host memory never
holds more than one tensor and no device ever holds an unsharded copy of the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import huggingface_hub
import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from mathpe_jax.convert.architectures import architecture
from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.convert.fit import check_tensors
from mathpe_jax.convert.hf_config import HF_CONFIG, model_config, read_hf_config
from mathpe_jax.convert.safetensors_io import SafetensorsReader
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.mesh import make_mesh
from mathpe_jax.parallel.sharding import state_shardings

# Files a conversion needs from the hub: config, weights and tokenizer, never *.bin or *.pt.
HUB_PATTERNS = [
    HF_CONFIG,
    "generation_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "tokenizer*",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "*.model",
]


def resolve(path_or_hub_id: str | Path) -> Path:
    """A local directory as is; anything else is downloaded from the Hugging Face hub."""
    if Path(path_or_hub_id).is_dir():
        return Path(path_or_hub_id)
    try:
        return Path(huggingface_hub.snapshot_download(str(path_or_hub_id), allow_patterns=HUB_PATTERNS))
    except Exception as err:  # any hub failure means "cannot resolve this name"
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConversionError(
            f"{str(path_or_hub_id)!r} is neither a directory nor a reachable hub id: {reason}"
        ) from err


def _place(array: np.ndarray, variable: nnx.Variable, sharding: jax.sharding.Sharding) -> jax.Array:
    """Each device (on every host) receives only its own shard of ``array``, cast to the variable's dtype."""
    array = np.asarray(array, dtype=variable.get_value().dtype)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def load_hf(
    path_or_hub_id: str | Path, *, dtype: str = "float32", mesh: Mesh | None = None, param_dtype: str | None = None
) -> tuple[Decoder, ModelConfig, dict[str, Any]]:
    """A Hugging Face llama / mistral / qwen2 / internlm2 checkpoint as our ``Decoder``.

    Returns the model (activations in ``dtype``, parameters in ``param_dtype``, by default the same,
    e.g. float32 master weights for bf16 training; placed on ``mesh`` by their logical axes, one
    device by default), its ``ModelConfig`` and the Hugging Face config (the template for export).
    """
    directory = resolve(path_or_hub_id)
    hf = read_hf_config(directory)
    cfg = model_config(hf, dtype=dtype).replace(param_dtype=param_dtype or dtype)
    with SafetensorsReader(directory) as reader:
        check_tensors(hf, cfg, reader)  # before anything the config sizes is built
        maps = list(architecture(hf["model_type"]).tensor_maps(cfg))
        graphdef, state = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
        variables = dict(nnx.to_flat_state(state))
        unmapped = sorted(set(variables) - {path for m in maps for path in m.paths}, key=str)
        if unmapped:
            name = "/".join(map(str, unmapped[0]))
            raise ConversionError(f"no {hf['model_type']} tensor maps to our variable {name}")
        shardings = dict(nnx.to_flat_state(state_shardings(state, mesh or make_mesh(devices=jax.devices()[:1]))))
        for m in maps:
            for path, array in zip(m.paths, m.to_ours(reader.read(m.hf_name))):
                variables[path].set_value(_place(array, variables[path], shardings[path].get_value()))
    return nnx.merge(graphdef, state), cfg, hf
