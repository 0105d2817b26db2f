"""Does a safetensors checkpoint hold the tensors its config.json describes? Asked of the headers only.

The config alone decides how many tensors a conversion builds, and how large: a ``config.json``
that promises 100000 layers beside a one-layer file would otherwise have the whole model built
(abstractly, yet at gigabytes of host memory) before the first read failed. So the tensors the
config implies are compared with the file headers one layer at a time, before anything is built,
and the first one missing stops the conversion, naming the config key that asked for it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from mathpe_jax.convert.architectures import TensorMap, architecture
from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.convert.hf_config import DIMENSION_LIMITS
from mathpe_jax.convert.safetensors_io import SafetensorsReader
from mathpe_jax.model.config import ModelConfig

# Buffers some checkpoints carry that are recomputed, not learned.
IGNORED = re.compile(r".*rotary_emb\.inv_freq$")


def check_tensors(hf: Mapping[str, Any], cfg: ModelConfig, reader: SafetensorsReader) -> None:
    """Every tensor that ``cfg`` (read from ``hf``) implies is in ``reader`` with its shape, and no other.

    The tensor maps are generated and checked one layer at a time and the first missing tensor
    stops the check, so its memory and time follow the checkpoint, never the config.
    """
    arch = architecture(hf["model_type"])
    present = set(reader.names())
    expected: set[str] = set()
    for layer, maps in itertools.groupby(arch.tensor_maps(cfg), key=lambda m: m.layer):
        group = list(maps)
        layer_absent = layer is not None and not any(m.hf_name in present for m in group)
        for m in group:
            if m.hf_name not in present:
                raise ConversionError(_missing(hf, m, layer_absent, arch.head_name, reader))
            if reader.shape(m.hf_name) != m.hf_shape:
                raise ConversionError(_mismatch(hf, m, reader.shape(m.hf_name)))
        expected.update(m.hf_name for m in group)
    optional = {arch.head_name} if cfg.tie_embeddings else set()
    unexpected = sorted(n for n in present - expected - optional if not IGNORED.fullmatch(n))
    if unexpected:
        raise ConversionError(f"unexpected tensor {unexpected[0]!r} ({len(unexpected)} unexpected in all)")


def _missing(hf: Mapping[str, Any], m: TensorMap, layer_absent: bool, head_name: str, reader: SafetensorsReader) -> str:
    """A whole layer missing blames the layer count, a missing head the untied embeddings."""
    if layer_absent:
        setting = f"num_hidden_layers={hf['num_hidden_layers']}"
    elif m.hf_name == head_name:
        setting = f"tie_word_embeddings={bool(hf.get('tie_word_embeddings', False))}"
    else:
        return f"missing tensor {m.hf_name!r} in {reader.source}"
    return f"config.json {setting} but {reader.source} has no tensor {m.hf_name!r}"


def _mismatch(hf: Mapping[str, Any], m: TensorMap, actual: tuple[int, ...]) -> str:
    """Names the config key whose value is the one wrong dimension, when exactly one key has it."""
    wrong = {e for e, a in zip(m.hf_shape, actual) if e != a} if len(actual) == len(m.hf_shape) else set()
    keys = [key for key in DIMENSION_LIMITS if hf.get(key) in wrong]
    blame = f" from config.json {keys[0]}={hf[keys[0]]}" if len(keys) == 1 else ""
    return f"shape mismatch for {m.hf_name!r}: checkpoint {actual}, expected {m.hf_shape}{blame}"
