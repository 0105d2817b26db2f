"""Open any kind of checkpoint for inference: the model, its tokenizer and how it was prompted.

Accepted directories:

* a Hugging Face model (``config.json`` with a ``model_type``), or a hub id;
* our converted checkpoint (``tools/convert_hf.py`` output: ``model_config.json`` + ``tokenizer/``);
* a run directory (``config.json`` of a run + ``checkpoints/``): the newest good checkpoint;
* a LoRA adapter: PEFT (``adapter_config.json``) or ours (``lora_config.json``), on the base named
  by ``base`` (a PEFT adapter names its own base when ``base`` is not given).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mathpe_jax.data.tasks import Task
from mathpe_jax.data.tasks.gsm8k import GSM8K
from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.hub import is_hub_id
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.run.layout import CONFIG, read_json_object


@dataclasses.dataclass
class Loaded:
    model: Decoder
    tokenizer: Tokenizer
    task: Task  # how the model was prompted (template, BOS) and how its answers are read


def _pretrained_task() -> Task:
    """A checkpoint that was not trained here is prompted for worked GSM8K-style solutions."""
    return GSM8K({"template": "cot", "bos": True})


def _is_run(directory: Path) -> bool:
    """A run directory's config.json is a run config (it has a task); a Hugging Face one, under the
    same name, is not."""
    saved = read_json_object(directory / CONFIG, what="a config (an object)")
    return saved is not None and "task" in saved


def load_checkpoint(checkpoint: str, base: str | None = None) -> Loaded:
    """The model and tokenizer behind ``checkpoint`` (see the module docstring for the kinds)."""
    from mathpe_jax.convert.hf_config import HF_CONFIG
    from mathpe_jax.convert.load import load_hf
    from mathpe_jax.data.hf_tokenizer import HFTokenizer

    path = Path(checkpoint)
    if (path / "adapter_config.json").is_file() or (path / "lora_config.json").is_file():
        return _load_adapter(path, base)
    if base is not None:
        raise ValueError(f"--base={base} is only for an adapter checkpoint; {checkpoint} is not one")
    if path.is_dir() and _is_run(path):
        return _load_run(path)
    if (path / "model_config.json").is_file():
        from mathpe_jax.convert.native import load_model

        model, _ = load_model(path)
        return Loaded(model, HFTokenizer(path / "tokenizer"), _pretrained_task())
    if path.is_dir() and not (path / HF_CONFIG).is_file():
        raise FileNotFoundError(f"{checkpoint} holds no model (no config.json, model_config.json or adapter)")
    if not path.exists() and not is_hub_id(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    model, _, _ = load_hf(checkpoint)
    return Loaded(model, HFTokenizer(checkpoint), _pretrained_task())


def _load_adapter(path: Path, base: str | None) -> Loaded:
    from mathpe_jax.model.lora import load_adapter

    peft_config = path / "adapter_config.json"
    if base is None and peft_config.is_file():
        base = json.loads(peft_config.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"adapter {path} needs --base (the model it adapts)")
    loaded = load_checkpoint(base)
    if peft_config.is_file():
        from mathpe_jax.convert.hf_config import read_hf_config
        from mathpe_jax.convert.load import resolve
        from mathpe_jax.convert.peft import load_peft

        load_peft(loaded.model, path, read_hf_config(resolve(base)))
    else:
        load_adapter(loaded.model, path)
    return loaded


def _load_run(workdir: Path) -> Loaded:
    from mathpe_jax import build
    from mathpe_jax.parallel.mesh import mesh_from_config
    from mathpe_jax.run.directory import saved_config
    from mathpe_jax.run.restore import restore_params

    config = saved_config(workdir)
    mesh = mesh_from_config({"data": -1, "fsdp": 1, "tensor": 1})
    tokenizer = build.build_tokenizer(config, workdir)
    model = build.build_model(config, tokenizer, mesh)
    step = restore_params(workdir, model, build.trainable(config))
    if step == 0:
        raise FileNotFoundError(f"run directory {workdir} has no readable checkpoint")
    return Loaded(model, tokenizer, build.make_task(config))
