"""Our own checkpoint of a converted model reloads without Hugging Face, onto a mesh."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from mathpe_jax.convert import load_hf, load_model, save_model
from mathpe_jax.convert.native import saved_hf_config
from mathpe_jax.model.lora import LoRAConfig, apply_lora, merge_lora
from mathpe_jax.parallel.mesh import make_mesh


def params(model):
    return {path: np.asarray(v[...]) for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def test_save_and_load_round_trip(hf_dirs, tmp_path):
    model, cfg, hf_config = load_hf(hf_dirs["qwen2"])
    save_model(model, cfg, tmp_path, hf_config=hf_config)
    restored, restored_cfg = load_model(tmp_path, mesh=make_mesh())
    assert restored_cfg == cfg and saved_hf_config(tmp_path) == hf_config
    expected, got = params(model), params(restored)
    assert set(got) == set(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value)


def test_unmerged_lora_is_not_saved_as_a_base_model(hf_dirs, tmp_path):
    model, cfg, _ = load_hf(hf_dirs["llama"])
    apply_lora(model, LoRAConfig(rank=2))
    with pytest.raises(ValueError, match="is not merged"):
        save_model(model, cfg, tmp_path / "unmerged")
    save_model(merge_lora(model), cfg, tmp_path / "merged")
    restored, _ = load_model(tmp_path / "merged")
    assert set(params(restored)) == {p for p in params(model) if "lora" not in p}
