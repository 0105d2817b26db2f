"""Throughput and peak memory of greedy decoding and of a training step: ours against transformers.

Each framework runs in its own fresh Python process (a *worker*), so that one framework's imports
and allocations never show up in the other's figure. A worker imports its framework, records its
resident memory (``baseline_memory_mib``: the cost of the imports alone), loads the model, runs one
untimed warm-up call (compilation for us, lazy initialisation for torch), then the timed calls, and
reports ``peak_memory_mib``: ``ru_maxrss``, the peak resident memory of the whole process, nothing
subtracted. This is host memory, so the figure means what it says on CPU; on an accelerator it
leaves out device memory.

Workers run this module (``python -m benchmarks.peer SPEC``), which imports only the standard
library, numpy and ``benchmarks.workload`` at the top: each worker imports its own framework, and
the transformers process never loads JAX (flax and jax cost about 135 MiB).

Both sides see the same random token ids (same seed), float32 weights and activations, and count
tokens the same way: ``batch * new_tokens`` per generate call, ``batch * seq`` per training step.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.workload import LENGTH_QUANTUM, random_tokens, timed, train_arrays

MODES = ("decode", "train")
FRAMEWORKS = ("mathpe_jax", "hf")
# What each worker imports before it records its baseline memory.
FRAMEWORK_MODULES = {
    "mathpe_jax": ("jax", "optax", "flax.nnx", "mathpe_jax.convert", "mathpe_jax.decode", "mathpe_jax.train.step"),
    "hf": ("torch", "transformers", "peft"),
}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
LORA_ALPHA = 16.0  # our LoRAConfig default; peft is given the same so both compute the same update
LEARNING_RATE, WEIGHT_DECAY = 1e-4, 0.01  # torch.optim.AdamW's default decay, set on both sides


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_summary(hf_dir: str | Path) -> dict[str, int]:
    """Parameter count (from the safetensors headers, nothing loaded), layers, width and vocabulary."""
    from safetensors import safe_open

    params = 0
    for path in sorted(Path(hf_dir).glob("*.safetensors")):
        with safe_open(path, framework="numpy") as reader:
            params += sum(int(np.prod(reader.get_slice(name).get_shape())) for name in reader.keys())
    config = json.loads((Path(hf_dir) / "config.json").read_text())
    return {
        "params": params,
        "layers": config["num_hidden_layers"],
        "width": config["hidden_size"],
        "vocab": config["vocab_size"],
    }


def _ours_decode(spec: dict[str, Any]) -> dict[str, Any]:
    from mathpe_jax.convert import load_hf
    from mathpe_jax.decode import greedy_generate

    model, cfg, _ = load_hf(spec["hf_dir"], dtype="float32")
    prompts = random_tokens(cfg.vocab_size, spec["batch"], spec["prompt_len"], spec["seed"]).tolist()
    # EOS -1 is never an argmax, so every row decodes exactly new_tokens tokens.
    warmup, seconds, out = timed(
        lambda: greedy_generate(
            model, prompts, max_new_tokens=spec["new_tokens"], eos_id=-1, pad_id=0, batch_size=spec["batch"]
        ),
        spec["repeats"],
    )
    return {"warmup_seconds": warmup, "seconds": seconds, "new_tokens": [len(row) for row in out]}


def _hf_decode(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["hf_dir"], dtype=torch.float32).eval()
    ids = torch.as_tensor(random_tokens(model.config.vocab_size, spec["batch"], spec["prompt_len"], spec["seed"]))

    def generate() -> torch.Tensor:
        with torch.inference_mode():
            return model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=spec["new_tokens"],
                min_new_tokens=spec["new_tokens"],
                pad_token_id=0,
            )

    warmup, seconds, out = timed(generate, spec["repeats"])
    return {"warmup_seconds": warmup, "seconds": seconds, "new_tokens": [out.shape[1] - ids.shape[1]] * len(out)}


def _ours_train(spec: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec

    from mathpe_jax.convert import load_hf
    from mathpe_jax.data.batching import Batch
    from mathpe_jax.model.lora import LoRAConfig, apply_lora, trainable_filter
    from mathpe_jax.parallel.mesh import make_mesh
    from mathpe_jax.train.step import TrainState, make_train_step

    mesh = make_mesh(devices=jax.devices()[:1])
    model, cfg, _ = load_hf(spec["hf_dir"], dtype="float32", mesh=mesh)
    trainable: Any = nnx.Param
    if spec["lora_rank"]:
        lora = LoRAConfig(rank=spec["lora_rank"], alpha=LORA_ALPHA)
        apply_lora(model, lora)
        trainable = trainable_filter(lora)
    graphdef, params, rngs, frozen = nnx.split(model, trainable, nnx.RngState, ...)
    del model
    tx = optax.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    # Every input on the weights' mesh, as the step's outputs will be: an input without it (the step
    # counter, the new adapters) would make the second call compile again.
    on_mesh = NamedSharding(mesh, PartitionSpec())
    state = jax.device_put(TrainState(jnp.int32(0), params, tx.init(params), rngs), on_mesh)
    step = jax.jit(make_train_step(graphdef, tx, grad_accum=1), donate_argnums=(0,))
    inputs, targets = train_arrays(cfg.vocab_size, spec)
    positions = np.broadcast_to(np.arange(spec["seq"], dtype=np.int32), inputs.shape)
    batch = jax.device_put(Batch(inputs, targets, positions, np.ones(inputs.shape, np.float32)), on_mesh)
    losses = []

    def run() -> None:
        nonlocal state
        state, metrics = step(state, frozen, batch)
        losses.append(float(metrics["loss"]))  # float() waits for the step to finish

    warmup, seconds, _ = timed(run, spec["steps"])
    trainable_params = sum(x.size for x in jax.tree.leaves(state.params))
    return {"warmup_seconds": warmup, "seconds": seconds, "losses": losses, "trainable_params": trainable_params}


def _hf_train(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["hf_dir"], dtype=torch.float32)
    if spec["lora_rank"]:
        lora = LoraConfig(
            r=spec["lora_rank"], lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS)
        )
        model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    inputs, targets = (torch.as_tensor(a, dtype=torch.long) for a in train_arrays(model.config.vocab_size, spec))
    losses = []

    def run() -> None:
        logits = model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())

    warmup, seconds, _ = timed(run, spec["steps"])
    return {
        "warmup_seconds": warmup,
        "seconds": seconds,
        "losses": losses,
        "trainable_params": sum(p.numel() for p in trainable),
    }


WORKERS: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("decode", "mathpe_jax"): _ours_decode,
    ("decode", "hf"): _hf_decode,
    ("train", "mathpe_jax"): _ours_train,
    ("train", "hf"): _hf_train,
}


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One framework, one mode, in this (fresh) process: timings, throughput and memory."""
    if spec["framework"] == "hf":
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    for name in FRAMEWORK_MODULES[spec["framework"]]:
        importlib.import_module(name)
    baseline = peak_memory_mib()
    result = WORKERS[spec["mode"], spec["framework"]](spec)
    if spec["mode"] == "decode" and set(result["new_tokens"]) != {spec["new_tokens"]}:
        raise RuntimeError(f"{spec['framework']} generated {result['new_tokens']} tokens per row, not {spec['new_tokens']}")
    tokens = spec["batch"] * (spec["new_tokens"] if spec["mode"] == "decode" else spec["seq"])
    result.update(
        tokens_per_second=tokens / statistics.median(result["seconds"]),
        peak_memory_mib=peak_memory_mib(),
        baseline_memory_mib=baseline,
    )
    return result


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """``worker(spec)`` in a fresh interpreter; its stderr (progress, warnings) passes through.

    The worker sees this process's import path, so it finds ``benchmarks`` and ``mathpe_jax``
    wherever we found them.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", __spec__.name, json.dumps(spec)], stdout=subprocess.PIPE, text=True, check=False, env=env
    )
    if done.returncode:
        raise RuntimeError(f"{spec['framework']} {spec['mode']} worker failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_spec(spec: dict[str, Any]) -> None:
    """A mode and sizes that both frameworks can run with the same amount of work; raises ValueError
    naming the flag."""
    mode = spec["mode"]
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use {' or '.join(MODES)}")
    if not spec["hf_dir"]:
        raise ValueError(f"{mode} needs --hf_dir")
    sizes = ("batch", "prompt_len", "new_tokens", "repeats") if mode == "decode" else ("batch", "seq", "steps")
    for key in sizes:
        if spec[key] < 1:
            raise ValueError(f"--{key} must be >= 1, got {spec[key]}")
    if mode == "decode":
        for key in ("prompt_len", "new_tokens"):
            if spec[key] % LENGTH_QUANTUM:
                raise ValueError(
                    f"--{key}={spec[key]} must be a multiple of {LENGTH_QUANTUM}: greedy_generate rounds it "
                    "up and would decode tokens that are not counted"
                )
    if mode == "train" and spec["lora_rank"] < 0:
        raise ValueError(f"--lora_rank must be >= 0 (0: full fine-tuning), got {spec['lora_rank']}")


def run(spec: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs ours (and, with ``peer="hf"``, transformers) in fresh processes; the report
    ``tools/bench.py decode|train`` prints.

    ``spec`` holds ``mode`` (decode or train), ``peer`` (hf or none), ``hf_dir``, ``batch``, ``seed``
    and, for decode, ``prompt_len``, ``new_tokens``, ``repeats``; for train, ``seq``, ``lora_rank``
    (0: full fine-tuning) and ``steps``.
    """
    check_spec(spec)
    mode = spec["mode"]
    load_before = os.getloadavg()  # before our own workers add to it
    spec = {**spec, "hf_dir": str(Path(spec["hf_dir"]).resolve())}
    results: dict[str, dict[str, Any] | None] = {"hf": None}
    for framework in FRAMEWORKS if spec["peer"] == "hf" else FRAMEWORKS[:1]:
        log(f"{framework} {mode}: starting a fresh worker process")
        results[framework] = run_worker({**spec, "framework": framework})
        log(
            f"{framework} {mode}: {results[framework]['tokens_per_second']:.1f} tokens/s, "
            f"peak memory {results[framework]['peak_memory_mib']:.0f} MiB"
        )
    ours, theirs = results["mathpe_jax"], results["hf"]
    ratio = None
    if theirs is not None:
        ratio = {
            "tokens_per_second": ours["tokens_per_second"] / theirs["tokens_per_second"],
            "peak_memory": ours["peak_memory_mib"] / theirs["peak_memory_mib"],
        }
    settings = {k: v for k, v in spec.items() if k not in ("hf_dir", "mode", "batch", "peer")}
    return {
        "mode": mode,
        "model": {"hf_dir": spec["hf_dir"], **model_summary(spec["hf_dir"])},
        "batch": spec["batch"],
        "settings": settings,
        "cpu_count": os.cpu_count(),
        "load_average": load_before,
        "mathpe_jax": ours,
        "hf": theirs,
        "ratio": ratio,
    }


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[-1]))))
