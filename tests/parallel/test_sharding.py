"""Sharded training on simulated devices (each in a subprocess, because the device count of a JAX
process is fixed when it starts), against the same training on this process's one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, simulated_devices
from mathpe_jax.main import run
from tests.helpers_run import main_command, tiny_config

SHARDING_PROBE = r"""
import json, sys
import jax, numpy as np
sys.path.insert(0, sys.argv[1])
from flax import nnx
from mathpe_jax.parallel.mesh import make_mesh
from mathpe_jax import build
from tests.helpers_run import tiny_config

config = tiny_config("t5", **{"model.num_heads": 4, "model.num_kv_heads": 2, "model.mlp_dim": 64})
mesh = make_mesh(data=2, fsdp=2, tensor=2)
model = build.build_model(config, build.build_tokenizer(config, None), mesh)
specs = {"/".join(map(str, p)): list(v[...].sharding.spec) for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
print(json.dumps({"devices": jax.device_count(), "specs": specs}))
"""


ACTIVATION_PROBE = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
sys.path.insert(0, sys.argv[1])
from flax import nnx
from mathpe_jax.parallel.mesh import make_mesh
from mathpe_jax.parallel.sharding import activation_sharding, create_sharded
from mathpe_jax.model.transformer import Decoder
from tests.model.helpers import tiny_config

mesh = make_mesh(data=2, fsdp=4, tensor=1)
specs = {}
for scan in (False, True):
    model = create_sharded(lambda: Decoder(tiny_config("t5", scan_layers=scan, remat="full"), rngs=nnx.Rngs(0)), mesh)
    graphdef, state = nnx.split(model)
    tokens = jax.device_put(np.zeros((8, 16), np.int32), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))

    for active in (False, True):
        def hidden(state, tokens):  # a new function each time: jax caches traces by function
            return nnx.merge(graphdef, state).hidden_states(tokens, jnp.broadcast_to(jnp.arange(16), tokens.shape))[0]

        with activation_sharding(mesh if active else None):
            compiled = jax.jit(hidden).lower(state, tokens).compile()
        specs[f"scan={scan},active={active}"] = [
            list(s) if isinstance(s, tuple) else s for s in compiled.output_shardings.spec]
print(json.dumps(specs))
"""


def run_python(code: str, env_extra: dict) -> str:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **env_extra}
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO_ROOT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.subprocess
def test_parameters_are_placed_by_their_logical_axes_on_an_8_device_mesh():
    out = json.loads(run_python(SHARDING_PROBE, simulated_devices(8)))
    assert out["devices"] == 8
    specs = out["specs"]
    assert specs["layers/0/attn/q_proj/kernel"] == ["fsdp", "tensor"]
    assert specs["layers/0/mlp/down_proj/kernel"] == ["tensor", "fsdp"]
    assert specs["embed/embedding"] == ["tensor", "fsdp"]
    assert specs["pe/table"] == [None, "tensor"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_activations_are_sharded_by_their_logical_axes_while_the_step_is_traced():
    """Replicated inputs, batch-sharded hidden states: only the constraints can split them, so
    the compiled output sharding shows whether they took effect (scanned and plain stacks)."""
    out = json.loads(run_python(ACTIVATION_PROBE, simulated_devices(8)))
    for scan in (False, True):
        assert out[f"scan={scan},active=True"][0] == ["data", "fsdp"], out
        assert out[f"scan={scan},active=False"][0] is None, out  # left to propagation: whole rows


def final_loss(workdir) -> float:
    return json.loads((workdir / "results.json").read_text())["train"]["final_loss"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_sharded_run_matches_the_single_device_run(tmp_path):
    """data x fsdp x tensor = 2 x 2 x 2, with activations constrained to the mesh, a scanned stack
    and remat, computes the same training as one plain device (here, in-process); only the order of
    float32 reductions differs, hence a relative tolerance of 1e-4 on the loss after 20 steps."""
    overrides = {"model.num_heads": 4, "model.num_kv_heads": 2}
    run(tiny_config("rope", **overrides), tmp_path / "one", "train")
    env8 = {**os.environ, "JAX_PLATFORMS": "cpu", **simulated_devices(8)}
    sharded = subprocess.run(
        main_command(tmp_path / "eight", **overrides,
                     **{"mesh.fsdp": 2, "mesh.tensor": 2, "model.scan_layers": True, "model.remat": "dots"}),
        cwd=REPO_ROOT, env=env8, capture_output=True, text=True, timeout=900,
    )
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert final_loss(tmp_path / "eight") == pytest.approx(final_loss(tmp_path / "one"), rel=1e-4)
