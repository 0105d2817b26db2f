"""A checkpoint that does not fit its config stops before any weight is read, with one line naming why."""

from __future__ import annotations

import json
import shutil
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import save_file

from mathpe_jax.convert import ConversionError, load_hf
from mathpe_jax.convert.safetensors_io import METADATA, SINGLE, SafetensorsReader


def edited_copy(src, dst, config_changes=None, drop=None, add=None):
    """A copy of the single-file checkpoint ``src`` with its config or tensor set changed."""
    dst.mkdir()
    config = {**json.loads((src / "config.json").read_text()), **(config_changes or {})}
    (dst / "config.json").write_text(json.dumps(config))
    with SafetensorsReader(src) as reader:
        tensors = {name: reader.read(name) for name in reader.names() if name != drop}
    save_file({**tensors, **(add or {})}, dst / SINGLE, metadata=METADATA)
    return dst


def assert_one_line(err, culprit):
    assert culprit in str(err.value) and "\n" not in str(err.value)


def test_missing_tensor(hf_dirs, tmp_path):
    path = edited_copy(hf_dirs["llama"], tmp_path / "m", drop="model.layers.1.mlp.up_proj.weight")
    with pytest.raises(ConversionError, match="missing tensor") as err:
        load_hf(path)
    assert_one_line(err, "'model.layers.1.mlp.up_proj.weight'")


def test_unexpected_tensor(hf_dirs, tmp_path):
    extra = {"model.layers.0.mlp.extra.weight": np.zeros((2, 2), np.float32)}
    path = edited_copy(hf_dirs["llama"], tmp_path / "m", add=extra)
    with pytest.raises(ConversionError, match="unexpected tensor") as err:
        load_hf(path)
    assert_one_line(err, "'model.layers.0.mlp.extra.weight'")


def test_recomputed_rotary_buffers_are_ignored(hf_dirs, tmp_path):
    extra = {"model.layers.0.self_attn.rotary_emb.inv_freq": np.ones(8, np.float32)}
    load_hf(edited_copy(hf_dirs["llama"], tmp_path / "m", add=extra))


def test_shape_mismatch_names_the_config_key(hf_dirs, tmp_path):
    path = edited_copy(hf_dirs["llama"], tmp_path / "m", config_changes={"intermediate_size": 96})
    with pytest.raises(ConversionError, match="shape mismatch") as err:
        load_hf(path)
    expected = "checkpoint (128, 64), expected (96, 64) from config.json intermediate_size=96"
    assert_one_line(err, f"'model.layers.0.mlp.gate_proj.weight': {expected}")


@pytest.mark.parametrize(
    "config_changes, drop, setting, tensor",
    [
        ({"num_hidden_layers": 3}, None, "num_hidden_layers=3", "model.layers.2.self_attn.q_proj.weight"),
        ({}, "lm_head.weight", "tie_word_embeddings=False", "lm_head.weight"),
    ],
)
def test_a_missing_tensor_names_the_config_key_asking_for_it(hf_dirs, tmp_path, config_changes, drop, setting, tensor):
    path = edited_copy(hf_dirs["llama"], tmp_path / "m", config_changes=config_changes, drop=drop)
    with pytest.raises(ConversionError) as err:
        load_hf(path)
    assert str(err.value) == f"config.json {setting} but {path / SINGLE} has no tensor {tensor!r}"


@pytest.mark.parametrize(
    "layers, message",
    [
        (100_000, "config.json num_hidden_layers=100000 is out of range: a whole number from 1 to 4096"),
        (4096, "config.json num_hidden_layers=4096 but {} has no tensor 'model.layers.0.self_attn.q_proj.weight'"),
    ],
)
def test_a_config_far_beyond_its_file_stops_before_building_anything(hf_dirs, tmp_path, layers, message):
    """A config of thousands of layers beside a one-tensor file used to build the whole (abstract) model,
    gigabytes of host memory over minutes, before the first missing tensor was noticed."""
    (tmp_path / "m").mkdir()
    config = {**json.loads((hf_dirs["llama"] / "config.json").read_text()), "num_hidden_layers": layers}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    embedding = {"model.embed_tokens.weight": np.zeros((256, 64), np.float32)}
    save_file(embedding, tmp_path / "m" / SINGLE, metadata=METADATA)
    tracemalloc.start()
    try:
        with pytest.raises(ConversionError) as err:
            load_hf(tmp_path / "m")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value) == message.format(tmp_path / "m" / SINGLE)
    assert peak < 2**20, f"{peak} bytes allocated before the refusal"


def test_unsupported_model_type(hf_dirs, tmp_path):
    path = edited_copy(hf_dirs["llama"], tmp_path / "m", config_changes={"model_type": "gpt_neox"})
    with pytest.raises(ConversionError) as err:
        load_hf(path)
    assert_one_line(err, "unsupported model_type='gpt_neox'")


def test_no_weights(hf_dirs, tmp_path):
    (tmp_path / "m").mkdir()
    shutil.copy(hf_dirs["llama"] / "config.json", tmp_path / "m")
    with pytest.raises(ConversionError) as err:
        load_hf(tmp_path / "m")
    assert_one_line(err, "no model.safetensors")


def test_neither_directory_nor_hub_id(tmp_path):
    with pytest.raises(ConversionError) as err:
        load_hf(str(tmp_path / "nowhere"))
    assert_one_line(err, "neither a directory nor a reachable hub id")
