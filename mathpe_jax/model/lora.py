"""LoRA (Hu et al., 2021) as Flax parameters: frozen base weights plus a trainable low-rank update.

``apply_lora`` turns every ``nnx.Linear`` whose module path (``layers.0.attn.q_proj``) fully matches
``LoRAConfig.target_modules`` into a ``LoRALinear``. That is the same ``nnx.Linear`` (its kernel and
bias keep their paths, values and sharding) computing ``x W + b + (alpha / rank) * dropout(x) A B``;
A and B are ``LoRAParam`` variables (A ``[in, rank]``, B ``[rank, out]`` zero-initialised, so the
model is unchanged until training moves B). ``LoRAParam`` subclasses ``nnx.Param``, so code that
saves or places all parameters keeps working, and ``nnx.state(model, LoRAParam)`` selects the
adapters alone.

How a trainer uses it (what mathpe_jax.train does): only the trainable variables are
differentiated and have optimizer state; the base is a frozen input::

    model = apply_lora(model, lora_config)
    graphdef, trainable, frozen = nnx.split(model, trainable_filter(lora_config), ...)

``train_pe=True`` makes the PE's own parameters (everything under the decoder's ``pe``) trainable
too, to swap the PE of a converted model. Dropout is off until ``model.train()`` (and back off with
``model.eval()``); its random stream is an ``nnx.RngState`` of the model, which a trainer must carry
from step to step or every step draws the same mask.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax.nnx import filterlib
from safetensors.numpy import load_file, save_file

LoRAParam = nnx.LoRAParam
CONFIG_FILE = "lora_config.json"
WEIGHTS_FILE = "lora.safetensors"


@dataclasses.dataclass(frozen=True)
class LoRAConfig:
    """Rank, scale ``alpha / rank``, input dropout, targets (a regex over module paths), PE training."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: str = r".*attn\.(q|k|v|o)_proj"
    train_pe: bool = False

    def __post_init__(self):
        if self.rank < 1:
            raise ValueError(f"lora.rank must be >= 1, got {self.rank}")
        if self.alpha <= 0:
            raise ValueError(f"lora.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        try:
            re.compile(self.target_modules)
        except re.error as err:
            raise ValueError(f"lora.target_modules={self.target_modules!r} is not a regex: {err}") from None

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


class LoRALinear(nnx.Linear):
    """An ``nnx.Linear`` with a low-rank update, made from an existing one.

    It adopts the base layer's variables and settings instead of creating new ones, so no second
    kernel is ever allocated and checkpoints of the base model keep their layout.
    """

    def __init__(self, base: nnx.Linear, config: LoRAConfig, *, rngs: nnx.Rngs):
        for name, value in vars(base).items():
            if not name.startswith("_"):  # nnx's own bookkeeping is rebuilt for this object
                setattr(self, name, value)
        in_axis, out_axis = base.kernel.get_metadata().get("out_sharding") or (None, None)
        self.lora = nnx.LoRA(
            base.in_features,
            config.rank,
            base.out_features,
            dtype=base.dtype,
            param_dtype=jnp.float32,  # adapters are small; float32 keeps their updates precise
            lora_param_type=LoRAParam,
            a_metadata={"out_sharding": (in_axis, None)},
            b_metadata={"out_sharding": (None, out_axis)},
            rngs=rngs,
        )
        self.dropout = nnx.Dropout(config.dropout, deterministic=True, rngs=rngs) if config.dropout else None
        self.scaling = config.scaling
        self.config = config
        self.merged = False

    def __call__(self, x: jax.Array, out_sharding=None) -> jax.Array:
        y = super().__call__(x, out_sharding=out_sharding)
        if self.merged:
            return y
        h = x if self.dropout is None else self.dropout(x)
        # On [tokens, features]: with batch and length as separate axes, XLA copies the output
        # gradient into a transposed layout to contract over both for B's gradient, which made
        # each adapted layer's backward pass about 30% slower on CPU.
        delta = self.lora(h.reshape(-1, h.shape[-1])).reshape(*h.shape[:-1], -1)
        return y + self.scaling * delta

    def delta(self) -> jax.Array:
        """``(alpha / rank) * A B`` in float32, the update that merging adds to the kernel."""
        a, b = self.lora.lora_a[...], self.lora.lora_b[...]
        return self.scaling * jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)

    def merge(self) -> None:
        if self.merged:
            raise ValueError("LoRA layer is already merged")
        kernel = self.kernel[...]
        self.kernel.set_value((kernel.astype(jnp.float32) + self.delta()).astype(kernel.dtype))
        self.merged = True


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path))


def lora_modules(model: nnx.Module) -> dict[str, LoRALinear]:
    """Every ``LoRALinear`` of ``model`` by dotted module path."""
    return {_dotted(path): m for path, m in nnx.iter_modules(model) if isinstance(m, LoRALinear)}


def _replace(model: nnx.Module, path: tuple[Any, ...], module: nnx.Module) -> None:
    parent = model
    for key in path[:-1]:
        parent = parent[key] if isinstance(key, int) else getattr(parent, key)
    if isinstance(path[-1], int):
        parent[path[-1]] = module
    else:
        setattr(parent, path[-1], module)


def apply_lora(model: nnx.Module, config: LoRAConfig, *, rngs: nnx.Rngs | None = None) -> nnx.Module:
    """Adds adapters, in place, to every plain ``nnx.Linear`` whose path matches; returns ``model``."""
    rngs = rngs or nnx.Rngs(0)
    pattern = re.compile(config.target_modules)
    linears = [
        (path, m)
        for path, m in nnx.iter_modules(model)
        if type(m) is nnx.Linear  # LoRALinear excluded
    ]
    targets = [(path, m) for path, m in linears if pattern.fullmatch(_dotted(path))]
    if not targets:
        examples = ", ".join(_dotted(path) for path, _ in linears[:3])
        raise ValueError(
            f"lora.target_modules={config.target_modules!r} matches no linear layer (paths look like {examples})"
        )
    for path, linear in targets:
        _replace(model, path, LoRALinear(linear, config, rngs=rngs))
    return model


def merge_lora(model: nnx.Module) -> nnx.Module:
    """Folds every adapter into its kernel (in place), so inference pays nothing for LoRA."""
    for m in lora_modules(model).values():
        m.merge()
    return model


def base_params(model: nnx.Module) -> nnx.State:
    """Every parameter but the adapters, refusing while an adapter is not merged into its kernel.

    What exports and base checkpoints save: without the check an adapted model would be written as
    if it had never been adapted.
    """
    unmerged = [path for path, m in lora_modules(model).items() if not m.merged]
    if unmerged:
        raise ValueError(
            f"LoRA adapter at {unmerged[0]} is not merged; call merge_lora first (or save the adapter alone)"
        )
    return nnx.state(model, nnx.All(nnx.Param, nnx.Not(LoRAParam)))


def trainable_filter(config: LoRAConfig) -> filterlib.Filter:
    """The nnx filter of what trains under ``config``: adapters, plus the PE's parameters if ``train_pe``."""
    if config.train_pe:
        return nnx.Any(LoRAParam, nnx.All(nnx.Param, nnx.PathContains("pe")))
    return LoRAParam


def adapter_config(model: nnx.Module) -> LoRAConfig:
    """The one ``LoRAConfig`` the model's adapters were made with."""
    configs = {m.config for m in lora_modules(model).values()}
    if len(configs) != 1:
        raise ValueError(f"model holds LoRA layers of {len(configs)} configs; exactly one is needed")
    return configs.pop()


def _adapter_arrays(model: nnx.Module, config: LoRAConfig) -> dict[str, nnx.Variable]:
    """Name -> variable of everything an adapter file holds: A and B of each layer, the PE if trained."""
    variables = {f"{path}.lora_a": m.lora.lora_a for path, m in lora_modules(model).items()}
    variables.update({f"{path}.lora_b": m.lora.lora_b for path, m in lora_modules(model).items()})
    if config.train_pe:
        for path, var in nnx.to_flat_state(nnx.state(model, trainable_filter(config))):
            if not isinstance(var, LoRAParam):
                variables[_dotted(path)] = var
    return variables


def save_adapter(model: nnx.Module, directory: str | Path) -> Path:
    """Writes the adapter alone: ``lora_config.json`` and ``lora.safetensors`` (plus PE params if trained)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = adapter_config(model)
    arrays = {name: np.asarray(jax.device_get(var[...])) for name, var in _adapter_arrays(model, config).items()}
    save_file(arrays, directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return directory


def load_adapter(model: nnx.Module, directory: str | Path) -> nnx.Module:
    """Restores a ``save_adapter`` directory into ``model`` (adding the adapters if it has none)."""
    directory = Path(directory)
    config = LoRAConfig(**json.loads((directory / CONFIG_FILE).read_text()))
    if not lora_modules(model):
        apply_lora(model, config)
    if adapter_config(model) != config:
        raise ValueError(f"model's LoRA config {adapter_config(model)} differs from the adapter's {config}")
    merged = [path for path, m in lora_modules(model).items() if m.merged]
    if merged:
        raise ValueError(f"LoRA adapter at {merged[0]} is merged into its kernel; load adapters into an unmerged model")
    saved = load_file(directory / WEIGHTS_FILE)
    variables = _adapter_arrays(model, config)
    if set(saved) != set(variables):
        name = min(set(saved) ^ set(variables))
        raise ValueError(f"adapter in {directory} and model disagree on {name!r}")
    for name, var in variables.items():
        value = var[...]
        if saved[name].shape != value.shape:
            raise ValueError(f"adapter tensor {name!r} has shape {saved[name].shape}, the model {value.shape}")
        var.set_value(jax.device_put(saved[name].astype(value.dtype), value.sharding))
    return model
