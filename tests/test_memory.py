"""The memory plan against the memory a step really takes, and the plan_memory tool's output.

The plan compiles the training step with shape-only parameters; here the same step runs on real
arrays in a fresh process, and its peak resident memory during the step (``VmHWM`` after resetting
it through ``/proc/self/clear_refs``), plus the arguments already resident, is compared with the
planned total. They agree within a factor of 1.5: XLA's CPU runtime allocates the planned buffers
from malloc, which may reuse memory the process already holds (lowering the measure) or keep
freed pages (raising it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

MEASURE = r"""
import gc, json, sys
import jax, numpy as np
sys.path.insert(0, sys.argv[1])
from mathpe_jax import build, memory
from mathpe_jax.data.batching import Batch
from mathpe_jax.data.tokenizer import CharTokenizer
from mathpe_jax.parallel.mesh import mesh_from_config, to_global
from mathpe_jax.train.optimizer import make_optimizer
from mathpe_jax.train.step import make_train_step
from mathpe_jax.train.trainer import _initial_state
from tests.helpers_run import override, tiny_config

config = override(tiny_config("t5"), json.loads(sys.argv[2]))
mesh = mesh_from_config(config.mesh)
tokenizer = CharTokenizer()
planned = memory.plan_training(config, memory.abstract_model(config, memory.model_config(config, None, tokenizer.vocab_size)), mesh)

def status(field):
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024

model = build.build_model(config, tokenizer, mesh)
tx = make_optimizer(dict(config.train))
graphdef, state, frozen = _initial_state(model, tx, mesh, build.trainable(config))
rows, length = config.train.batch_size, config.task.max_len
rng = np.random.default_rng(0)
tokens = rng.integers(3, tokenizer.vocab_size, size=(rows, length)).astype(np.int32)
positions = np.tile(np.arange(length, dtype=np.int32), (rows, 1))
batch = to_global(mesh, Batch(tokens, positions, tokens, np.ones((rows, length), np.float32)))
step = jax.jit(make_train_step(graphdef, tx, config.train.grad_accum, mesh), donate_argnums=(0,))
compiled = step.lower(state, frozen, batch).compile()
arguments = sum(x.nbytes for x in jax.tree.leaves((state, frozen, batch)))
gc.collect()
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current resident size
before = status("VmRSS")
jax.block_until_ready(compiled(state, frozen, batch))
measured = status("VmHWM") - before + arguments
print(json.dumps({"planned": planned["total_gb"] * 1e9, "measured": measured, "saved": planned["saved_activations_gb"] * 1e9}))
"""


def run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, str(REPO_ROOT), *args], cwd=REPO_ROOT,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_plan_agrees_with_the_measured_peak_of_the_step():
    sizes = {"model.width": 256, "model.num_layers": 4, "model.num_heads": 4, "model.num_kv_heads": 2,
             "model.mlp_dim": 768, "model.max_len": 512, "task.max_len": 512, "train.batch_size": 16,
             "train.grad_accum": 2}
    figures = run(MEASURE, json.dumps(sizes))
    print(figures)
    assert 1 / 1.5 <= figures["planned"] / figures["measured"] <= 1.5, figures


def plan_tool(*args: str, config: str = "configs/t5.py") -> subprocess.CompletedProcess:
    small = ["--config.model.width=64", "--config.model.num_layers=2", "--config.model.mlp_dim=128",
             "--config.task.max_len=128", "--config.model.max_len=128", "--config.train.batch_size=16",
             "--config.eval.batch_size=8", "--config.eval.max_new_tokens=16"]
    return subprocess.run([sys.executable, "tools/plan_memory.py", f"--config={config}", *small, *args],
                          cwd=REPO_ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True,
                          timeout=600)


def test_plan_memory_splits_weights_and_activations_over_an_fsdp_mesh():
    one = plan_tool("--json")
    eight = plan_tool("--json", "--devices=8", "--config.mesh.fsdp=8", "--config.model.scan_layers=True",
                      "--config.model.remat=full")
    assert one.returncode == 0 and eight.returncode == 0, one.stderr[-2000:] + eight.stderr[-2000:]
    one, eight = json.loads(one.stdout), json.loads(eight.stdout)
    assert eight["devices"] == 8 and eight["mesh"] == {"data": 1, "fsdp": 8, "tensor": 1}
    for key in ("args_gb", "saved_activations_gb", "total_gb", "temp_gb", "model_flops"):
        assert one["train"][key] > 0 and eight["train"][key] > 0, key
    assert one["decode"]["total_gb"] > 0
    # Weights and Adam state split 8 ways (the batch, replicated norms and the PE table do not).
    assert eight["train"]["args_gb"] < one["train"]["args_gb"] / 4
    # Saved hidden states split over the rows, and remat keeps only each layer's input.
    assert eight["train"]["saved_activations_gb"] < one["train"]["saved_activations_gb"] / 8
    assert one["train"]["model_flops"] == eight["train"]["model_flops"]


def test_plan_memory_prints_a_table_and_names_a_missing_checkpoint():
    """The table, for a PE that reads digit places (its token inputs compile into both steps)."""
    done = plan_tool(config="configs/abacus.py")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(PE abacus)" in done.stdout and "args+saved" in done.stdout and "decode" in done.stdout
    missing = plan_tool("--config.init.hf_dir=no-such-org/no-such-model", "--config.task.name=gsm8k")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: config.init.hf_dir='no-such-org/no-such-model'")
