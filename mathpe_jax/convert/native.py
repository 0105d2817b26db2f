"""Our own checkpoint of a (converted) model: reloadable without Hugging Face.

Layout of the directory::

    model_config.json   dataclasses.asdict(ModelConfig)
    params/             the parameters, an Orbax StandardCheckpointer tree
    hf_config.json      optional: the Hugging Face config it came from, the template for export
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh

from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.lora import base_params
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.mesh import make_mesh
from mathpe_jax.parallel.sharding import state_shardings

CONFIG_FILE = "model_config.json"
HF_CONFIG_FILE = "hf_config.json"
PARAMS_DIR = "params"


def save_model(
    model: Decoder, cfg: ModelConfig, directory: str | Path, *, hf_config: Mapping[str, Any] | None = None
) -> Path:
    """Writes the parameters (LoRA adapters must be merged or saved apart) and the config.

    Refuses to overwrite: a conversion aimed at the wrong directory must not destroy a trained model.
    """
    directory = Path(directory).absolute()
    if (directory / PARAMS_DIR).exists():
        raise FileExistsError(f"{directory / PARAMS_DIR} already exists; choose a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / PARAMS_DIR, base_params(model))
    (directory / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    if hf_config is not None:
        (directory / HF_CONFIG_FILE).write_text(json.dumps(hf_config, indent=2) + "\n")
    return directory


def read_model_config(directory: str | Path) -> ModelConfig:
    fields = json.loads((Path(directory) / CONFIG_FILE).read_text())
    fields["pe_options"] = tuple(tuple(item) for item in fields["pe_options"])
    fields["digit_ids"] = tuple(fields.get("digit_ids", ()))
    return ModelConfig(**fields)


def saved_hf_config(directory: str | Path) -> dict[str, Any] | None:
    """The Hugging Face config stored with the checkpoint, or None for a model trained here."""
    path = Path(directory) / HF_CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def load_model(directory: str | Path, mesh: Mesh | None = None) -> tuple[Decoder, ModelConfig]:
    """Rebuilds the model with every parameter restored straight onto its sharding on ``mesh`` (by
    default the first device)."""
    directory = Path(directory).absolute()
    cfg = read_model_config(directory)
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
    shardings = state_shardings(state, mesh or make_mesh(devices=jax.devices()[:1]))
    target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), state, shardings)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(directory / PARAMS_DIR, target)
    return nnx.merge(graphdef, restored), cfg
