"""Reading and writing Hugging Face safetensors checkpoints, single-file or sharded, tensor by tensor.

A 7B model does not fit twice in host memory, so reading never materialises more than the tensor
asked for, and writing holds at most one shard.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from mathpe_jax.convert.errors import ConversionError

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
METADATA = {"format": "pt"}  # transformers refuses safetensors files without it


class SafetensorsReader(contextlib.ExitStack):
    """Tensor name -> file map of a checkpoint directory; ``read`` loads one tensor into host memory."""

    def __init__(self, directory: str | Path):
        super().__init__()
        directory = Path(directory)
        if (directory / INDEX).is_file():
            try:
                weight_map = json.loads((directory / INDEX).read_text())["weight_map"]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
                raise ConversionError(f"{directory / INDEX} is not a safetensors index ({err})") from None
        elif (directory / SINGLE).is_file():
            weight_map = None
        else:
            raise ConversionError(f"no {SINGLE} or {INDEX} in {directory}")
        self._directory = directory
        self.source = directory / (INDEX if weight_map else SINGLE)  # the file that names the tensors
        files = sorted(set(weight_map.values())) if weight_map else [SINGLE]
        self._handles = {f: self.enter_context(_open(directory / f)) for f in files}
        if weight_map is None:
            weight_map = dict.fromkeys(self._handles[SINGLE].keys(), SINGLE)
        self._files = weight_map

    def names(self) -> list[str]:
        return list(self._files)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._handles[self._files[name]].get_slice(name).get_shape())

    def read(self, name: str) -> np.ndarray:
        try:
            return self._handles[self._files[name]].get_tensor(name)
        except Exception as err:  # safetensors raises its own error type, or OSError, on a damaged file
            raise ConversionError(f"{self._directory / self._files[name]}: cannot read tensor {name!r} ({err})") from None


def _open(path: Path):
    """``safe_open`` with a damaged or missing file reported in one line naming it."""
    if not path.is_file():
        raise ConversionError(f"{path} is missing (named by the index)")
    try:
        return safe_open(path, framework="numpy")
    except Exception as err:  # SafetensorError for a bad header, OSError for an unreadable file
        raise ConversionError(f"{path} is not a readable safetensors file ({err})") from None


def write_safetensors(directory: str | Path, tensors: Iterable[tuple[str, np.ndarray]], max_shard_bytes: int) -> None:
    """Writes ``model.safetensors``, or numbered shards plus an index when they exceed ``max_shard_bytes``."""
    directory = Path(directory)
    shards: list[dict[str, str]] = []  # per shard: tensor name -> temporary file name
    pending: dict[str, np.ndarray] = {}
    pending_bytes = total = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        tmp = f".shard-{len(shards)}.tmp"
        save_file(pending, directory / tmp, metadata=METADATA)
        shards.append(dict.fromkeys(pending, tmp))
        pending, pending_bytes = {}, 0

    for name, array in tensors:
        if pending and pending_bytes + array.nbytes > max_shard_bytes:
            flush()
        pending[name] = np.ascontiguousarray(array)
        pending_bytes += array.nbytes
        total += array.nbytes
    flush()
    if len(shards) == 1:
        os.replace(directory / next(iter(shards[0].values())), directory / SINGLE)
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        final = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        os.replace(directory / next(iter(shard.values())), directory / final)
        weight_map.update(dict.fromkeys(shard, final))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / INDEX).write_text(json.dumps(index, indent=2) + "\n")
