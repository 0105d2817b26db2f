"""Config validation: fail before anything compiles, with one line naming the key and the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from mathpe_jax.data.batching import POSITION_SCHEMES
from mathpe_jax.data.tasks import task_class
from mathpe_jax.errors import ConfigError
from mathpe_jax.hub import is_hub_id
from mathpe_jax.model.attention import IMPLEMENTATIONS
from mathpe_jax.model.config import DTYPES
from mathpe_jax.model.transformer import REMAT_POLICIES
from mathpe_jax.pe import check_pe_options, chosen_pe, pe_class


def _require(ok: bool, key: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"config.{key}={value!r}: {why}")


def _positive_int(c: ConfigDict, key: str, allow_zero: bool = False) -> None:
    value = c
    for part in key.split("."):
        value = value[part]
    low = 0 if allow_zero else 1
    _require(isinstance(value, int) and value >= low, key, value, f"must be an integer >= {low}")


def _is_regex(pattern: Any) -> bool:
    try:
        return isinstance(pattern, str) and bool(pattern) and re.compile(pattern) is not None
    except re.error:
        return False


def validate(c: ConfigDict) -> None:
    """Raises ConfigError for the first invalid field of the run config ``c``."""
    m = c.model
    for key in ("width", "num_layers", "num_heads", "num_kv_heads", "mlp_dim", "max_len"):
        _positive_int(c, f"model.{key}")
    _positive_int(c, "model.head_dim", allow_zero=True)
    _positive_int(c, "model.sliding_window", allow_zero=True)
    if not m.head_dim:
        _require(m.width % m.num_heads == 0, "model.num_heads", m.num_heads, f"must divide model.width={m.width}")
    _require(m.num_heads % m.num_kv_heads == 0, "model.num_kv_heads", m.num_kv_heads,
             f"must divide model.num_heads={m.num_heads}")
    for key in ("dtype", "param_dtype"):
        _require(m[key] in DTYPES, f"model.{key}", m[key], f"must be one of {sorted(DTYPES)}")
    _require(m.attention_impl in IMPLEMENTATIONS, "model.attention_impl", m.attention_impl, f"must be one of {IMPLEMENTATIONS}")
    _require(m.remat in REMAT_POLICIES, "model.remat", m.remat, f"must be one of {sorted(REMAT_POLICIES)}")
    _require(isinstance(m.scan_layers, bool), "model.scan_layers", m.scan_layers, "must be True or False")
    _require(not (c.lora.dropout and (m.remat != "none" or m.scan_layers)), "lora.dropout", c.lora.dropout,
             "must be 0 with model.remat or model.scan_layers (their layers run as pure functions, without dropout's random stream)")
    try:
        name, options = chosen_pe(m)
        pe_class(name)
        check_pe_options(name, options)
    except ValueError as err:
        raise ConfigError(str(err)) from None

    t = c.task
    try:  # the task checks its own block; the checkpoint fixes the length of a pretrained model
        task = task_class(t.name)
        task.check_config(t, None if c.init.hf_dir else m.max_len)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if task.kind == "dataset":
        _positive_int(c, "eval.max_new_tokens")
        _positive_int(c, "eval.limit", allow_zero=True)
    _require(t.bos or not pe_class(m.pe.name).requires_bos, "task.bos", t.bos, f"PE {m.pe.name!r} needs a BOS token")

    for key in ("steps", "log_every", "checkpoint_every", "keep_checkpoints", "warmup_steps"):
        _positive_int(c, f"train.{key}", allow_zero=key in ("steps", "warmup_steps"))
    _positive_int(c, "train.batch_size")
    _require(c.train.positions in POSITION_SCHEMES, "train.positions", c.train.positions,
             f"must be one of {', '.join(POSITION_SCHEMES)}")
    _positive_int(c, "train.grad_accum")
    _require(c.train.batch_size % c.train.grad_accum == 0, "train.grad_accum", c.train.grad_accum,
             f"must divide train.batch_size={c.train.batch_size}")
    _require(c.train.learning_rate > 0, "train.learning_rate", c.train.learning_rate, "must be > 0")
    _require(0 <= c.train.end_lr_ratio <= 1, "train.end_lr_ratio", c.train.end_lr_ratio, "must be in [0, 1]")
    _require(c.train.clip_norm > 0, "train.clip_norm", c.train.clip_norm, "must be > 0")
    _require(c.train.weight_decay >= 0, "train.weight_decay", c.train.weight_decay, "must be >= 0")
    _require(c.train.steps == 0 or c.train.warmup_steps <= c.train.steps, "train.warmup_steps", c.train.warmup_steps,
             f"must not exceed train.steps={c.train.steps} (the learning rate would never leave warm-up)")
    _positive_int(c, "eval.examples_per_length", allow_zero=True)
    _positive_int(c, "eval.grid_examples", allow_zero=True)
    _positive_int(c, "eval.batch_size")
    _positive_int(c, "eval.step", allow_zero=True)

    _positive_int(c, "lora.rank", allow_zero=True)
    if c.lora.rank:
        _require(bool(c.init.hf_dir), "init.hf_dir", c.init.hf_dir, "LoRA (lora.rank > 0) needs a pretrained checkpoint")
        _require(c.lora.alpha > 0, "lora.alpha", c.lora.alpha, "must be > 0")
        _require(0 <= c.lora.dropout < 1, "lora.dropout", c.lora.dropout, "must be in [0, 1)")
        _require(_is_regex(c.lora.target_modules), "lora.target_modules", c.lora.target_modules,
                 "must be a non-empty regular expression")
    if c.init.hf_dir and not Path(c.init.hf_dir).is_dir():
        _require(is_hub_id(c.init.hf_dir), "init.hf_dir", c.init.hf_dir,
                 "is neither a directory nor a hub id (owner/name)")

    for axis in ("fsdp", "tensor"):
        _positive_int(c, f"mesh.{axis}")
    _require(c.mesh.data == -1 or (isinstance(c.mesh.data, int) and c.mesh.data >= 1), "mesh.data", c.mesh.data,
             "must be -1 (all remaining devices) or an integer >= 1")
