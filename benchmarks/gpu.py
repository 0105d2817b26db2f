"""The GPU check of ``tools/bench.py gpu``: one ~1B decoder trained and decoded on one chip, with
model FLOPs utilisation (MFU) and the memory-bandwidth bound of decoding.

The model is built from scratch with this project's own code, with TinyLlama-1.1B's shape by
default (22 layers, width 2048, 32 heads, 4 key/value heads, MLP 5632, vocabulary 32000, untied
output: 1,100,048,384 parameters), bfloat16 compute over float32 master weights. Everything runs
in this process on the first device (a one-chip mesh), in two parts:

* training: full fine-tuning with the project's AdamW (``make_optimizer``) through
  ``make_train_step``, jitted with the state donated; compiled once, one untimed warm-up step,
  then the timed steps, whose median counts.
* decoding: ``greedy_generate`` with bfloat16 weights on ``batch`` random prompts, exactly
  ``new_tokens`` new tokens per row (EOS -1 never stops a row); one untimed warm-up call, then
  the timed calls, whose median counts. The timed call includes its prefill.

Figures, from formulas of the shape (the tests check them exactly):

* ``matmul_params`` N: the weights that take part in a matrix product, per layer q, k, v, o and
  the three MLP kernels, plus the output projection. The input embedding is a lookup and the
  norms are elementwise; both are left out.
* model FLOPs per training step: ``6 N B T`` (forward and backward of the weight products) plus
  the attention products ``12 L B T^2 (H d) / 2`` (QK^T and AV, forward and backward, halved for
  the causal mask). MFU is these model FLOPs per second over the chip's dense bfloat16 peak.
  XLA's own count (``compiled.cost_analysis()``) is reported beside it but not used: it counts
  what runs (remat's recomputation included) and may count a scanned layer loop only once.
* decoding bound: every new token needs all matmul weights read once per step (bfloat16 bytes)
  plus the KV cache of every row; with ``P + i`` cache entries at step ``i``, the mean over the
  steps is ``P + (new_tokens - 1) / 2`` entries of ``2 L KV d`` bfloat16 values per row. The bound
  is ``B * bandwidth / (weight bytes + mean cache bytes)`` tokens/s; ``fraction_of_bound`` is the
  achieved tokens/s over it.

Peak FLOP/s and bandwidth come from ``DEVICE_TABLE`` by ``jax.devices()[0].device_kind``; on a
CPU or an unknown chip MFU (and the bound) is null with a reason, unless given as flags.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.workload import LENGTH_QUANTUM, random_tokens, timed, train_arrays

if TYPE_CHECKING:
    from mathpe_jax.model.config import ModelConfig

# TinyLlama-1.1B's shape: a standard ~1B Llama.
DEFAULT_SHAPE = {"layers": 22, "width": 2048, "heads": 32, "kv_heads": 4, "mlp": 5632, "vocab": 32000}
# The check's sizes where the command line gives none: sized to finish in minutes on one H100.
DEFAULTS = {
    **DEFAULT_SHAPE,
    "seq": 2048,
    "batch": 8,
    "steps": 10,
    "prompt_len": 128,
    "new_tokens": 128,
    "repeats": 3,
}

# (substring of device_kind, peak dense bf16 FLOP/s, memory bandwidth in bytes/s), most specific
# first: the first substring found in the device kind wins. Vendor data-sheet figures.
DEVICE_TABLE: tuple[tuple[str, float, float], ...] = (
    ("GH200", 989e12, 4.0e12),  # the 96 GB HBM3 part; the 144 GB HBM3e one reads 4.9e12: --bandwidth_gbs
    ("H200 NVL", 835e12, 4.8e12),
    ("H200", 989e12, 4.8e12),
    ("H100 NVL", 835e12, 3.9e12),
    ("H100 PCIe", 756e12, 2.0e12),
    ("H100", 989e12, 3.35e12),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100-SXM4-80GB", 312e12, 2.039e12),
    ("A100 80GB PCIe", 312e12, 1.935e12),
    ("A100", 312e12, 1.555e12),  # 40 GB
    ("L40S", 362e12, 0.864e12),
    ("L40", 181e12, 0.864e12),
    ("L4", 121e12, 0.3e12),
    ("TPU v6", 918e12, 1.64e12),
    ("TPU v5p", 459e12, 2.765e12),
    ("TPU v5", 197e12, 0.819e12),  # v5e, reported as "TPU v5 lite"
    ("TPU v4", 275e12, 1.2e12),
)
PARAM_BYTES = 2  # bfloat16 weights when decoding
CACHE_BYTES = 2  # bfloat16 KV cache (the compute dtype)
OPTIMIZER = {
    "learning_rate": 1e-4,
    "warmup_steps": 1,  # the untimed warm-up step; every timed step has a learning rate
    "steps": 1000,
    "end_lr_ratio": 0.1,
    "clip_norm": 1.0,
    "weight_decay": 0.01,
}


def device_figures(kind: str) -> tuple[float | None, float | None]:
    """Peak dense bf16 FLOP/s and memory bandwidth (bytes/s) of a device kind, None where unknown."""
    for pattern, flops, bandwidth in DEVICE_TABLE:
        if pattern.lower() in kind.lower():
            return flops, bandwidth
    return None, None


def matmul_params(shape: Mapping[str, int]) -> int:
    """Weights in matrix products: q, k, v, o and the SwiGLU kernels of each layer, the output head."""
    width, head_dim = shape["width"], shape["width"] // shape["heads"]
    q_width, kv_width = shape["heads"] * head_dim, shape["kv_heads"] * head_dim
    layer = width * q_width + 2 * width * kv_width + q_width * width + 3 * width * shape["mlp"]
    return shape["layers"] * layer + width * shape["vocab"]


def train_flops(shape: Mapping[str, int], batch: int, seq: int) -> dict[str, int]:
    """Model FLOPs of one training step: weight products and causal attention products."""
    q_width = shape["heads"] * (shape["width"] // shape["heads"])
    dense = 6 * matmul_params(shape) * batch * seq
    attention = 12 * shape["layers"] * batch * seq * seq * q_width // 2
    return {"dense": dense, "attention": attention, "total": dense + attention}


def decode_bytes(shape: Mapping[str, int], batch: int, prompt_len: int, new_tokens: int) -> dict[str, float]:
    """Bytes one decoding step must read: all matmul weights and, on average, the KV cache."""
    head_dim = shape["width"] // shape["heads"]
    per_entry = 2 * shape["layers"] * shape["kv_heads"] * head_dim * CACHE_BYTES  # keys and values
    mean_entries = prompt_len + (new_tokens - 1) / 2
    return {"weights": matmul_params(shape) * PARAM_BYTES, "mean_cache": batch * mean_entries * per_entry}


def check_spec(spec: Mapping[str, Any]) -> None:
    """Sizes the benchmark can run as counted; raises ValueError naming the flag."""
    for key in ("layers", "width", "heads", "kv_heads", "mlp", "vocab", "batch", "seq", "steps", "repeats"):
        if spec[key] < 1:
            raise ValueError(f"--{key} must be >= 1, got {spec[key]}")
    if spec["width"] % spec["heads"] or spec["heads"] % spec["kv_heads"]:
        raise ValueError(
            f"--heads={spec['heads']} must divide --width={spec['width']} and --kv_heads={spec['kv_heads']} "
            "must divide --heads"
        )
    for key in ("prompt_len", "new_tokens"):
        if spec[key] < 1 or spec[key] % LENGTH_QUANTUM:
            raise ValueError(
                f"--{key}={spec[key]} must be a positive multiple of {LENGTH_QUANTUM}: greedy_generate "
                "rounds it up and would decode tokens that are not counted"
            )
    if spec["vocab"] < 4:
        raise ValueError(f"--vocab must be >= 4 (ids 0-2 are never drawn), got {spec['vocab']}")
    for key in ("peak_tflops", "bandwidth_gbs"):
        if spec.get(key) is not None and spec[key] <= 0:
            raise ValueError(f"--{key} must be > 0, got {spec[key]}")
    from mathpe_jax.pe import REGISTRY

    if spec["pe"] not in REGISTRY:
        raise ValueError(f"--pe={spec['pe']} is not a positional encoding; known: {', '.join(sorted(REGISTRY))}")


def model_config(spec: Mapping[str, Any], **changes: Any) -> ModelConfig:
    """The decoder ``spec`` describes: bfloat16 compute over float32 weights unless ``changes`` say
    otherwise (decoding reads bfloat16 weights)."""
    from mathpe_jax.model.config import ModelConfig

    return ModelConfig(
        vocab_size=spec["vocab"],
        width=spec["width"],
        num_layers=spec["layers"],
        num_heads=spec["heads"],
        num_kv_heads=spec["kv_heads"],
        mlp_dim=spec["mlp"],
        max_len=max(spec["seq"], spec["prompt_len"] + spec["new_tokens"]),
        pe_name=spec["pe"],
        dtype="bfloat16",
        param_dtype="float32",
        attention_impl=spec["attention_impl"],
        remat=spec["remat"],
        scan_layers=spec["scan_layers"],
    ).replace(**changes)


def _build(cfg, mesh, seed: int):
    from flax import nnx

    from mathpe_jax.model.transformer import Decoder
    from mathpe_jax.parallel.sharding import create_sharded

    return create_sharded(lambda: Decoder(cfg, rngs=nnx.Rngs(seed)), mesh)


def _peak_memory_gib(device) -> float | None:
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"] / 2**30


def _train(spec: Mapping[str, Any], mesh, log: Callable[[str], None]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec

    from mathpe_jax.data.batching import Batch
    from mathpe_jax.train.optimizer import make_optimizer
    from mathpe_jax.train.step import TrainState, make_train_step

    cfg = model_config(spec)
    start = time.perf_counter()
    model = _build(cfg, mesh, spec["seed"])
    graphdef, params, rngs, frozen = nnx.split(model, nnx.Param, nnx.RngState, ...)
    del model
    params_count = sum(x.size for x in jax.tree.leaves(params))
    log(f"train: built the model, {params_count:,} parameters, in {time.perf_counter() - start:.1f}s")
    tx = make_optimizer(OPTIMIZER)
    on_mesh = NamedSharding(mesh, PartitionSpec())
    state = jax.device_put(TrainState(jnp.int32(0), params, tx.init(params), rngs), on_mesh)
    del params
    inputs, targets = train_arrays(spec["vocab"], spec)
    positions = np.broadcast_to(np.arange(spec["seq"], dtype=np.int32), inputs.shape)
    batch = jax.device_put(Batch(inputs, targets, positions, np.ones(inputs.shape, np.float32)), on_mesh)
    step = jax.jit(make_train_step(graphdef, tx, grad_accum=1), donate_argnums=(0,))

    log(
        f"train: compiling the step (batch {spec['batch']} x seq {spec['seq']}, remat={spec['remat']}, "
        f"scan_layers={spec['scan_layers']}, attention_impl={spec['attention_impl']})"
    )
    start = time.perf_counter()
    compiled = step.lower(state, frozen, batch).compile()
    compile_seconds = time.perf_counter() - start
    costs = compiled.cost_analysis()
    if isinstance(costs, (list, tuple)):  # older jax: one dict per computation
        costs = costs[0] if costs else None
    xla_flops = float(costs["flops"]) if costs and costs.get("flops", -1) > 0 else None
    log(f"train: compiled in {compile_seconds:.1f}s; one warm-up step, then {spec['steps']} timed steps")
    losses: list[float] = []

    def run() -> None:
        nonlocal state
        state, metrics = compiled(state, frozen, batch)
        losses.append(float(metrics["loss"]))  # float() waits for the step to finish

    warmup, seconds, _ = timed(run, spec["steps"])
    del state
    median = statistics.median(seconds)
    log(f"train: median step {median * 1e3:.1f} ms")
    return {
        "params": params_count,
        "compile_seconds": compile_seconds,
        "warmup_seconds": warmup,
        "seconds": seconds,
        "median_step_seconds": median,
        "tokens_per_second": spec["batch"] * spec["seq"] / median,
        "losses": losses,
        "xla_flops_per_step": xla_flops,
        "device_peak_memory_gib": _peak_memory_gib(jax.devices()[0]),
    }


def _decode(spec: Mapping[str, Any], mesh, log: Callable[[str], None]) -> dict[str, Any]:
    from mathpe_jax.decode import greedy_generate

    cfg = model_config(spec, param_dtype="bfloat16")
    model = _build(cfg, mesh, spec["seed"])
    prompts = random_tokens(spec["vocab"], spec["batch"], spec["prompt_len"], spec["seed"]).tolist()
    log(
        f"decode: compiling and warming up greedy_generate ({spec['batch']} prompts of {spec['prompt_len']} "
        f"tokens, {spec['new_tokens']} new tokens each), then {spec['repeats']} timed calls"
    )
    warmup, seconds, out = timed(
        lambda: greedy_generate(
            model, prompts, max_new_tokens=spec["new_tokens"], eos_id=-1, pad_id=0, batch_size=spec["batch"]
        ),
        spec["repeats"],
    )
    lengths = sorted({len(row) for row in out})
    if lengths != [spec["new_tokens"]]:
        raise RuntimeError(f"greedy_generate made {lengths} tokens per row, not {spec['new_tokens']}")
    median = statistics.median(seconds)
    log(f"decode: median call {median:.3f}s")
    return {
        "warmup_seconds": warmup,
        "seconds": seconds,
        "median_call_seconds": median,
        "tokens_per_second": spec["batch"] * spec["new_tokens"] / median,
    }


def rates(spec: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Peak FLOP/s and bandwidth: the flags where given, else the device table, else None."""
    table_flops, table_bandwidth = device_figures(kind)
    peak = spec["peak_tflops"] * 1e12 if spec.get("peak_tflops") else table_flops
    bandwidth = spec["bandwidth_gbs"] * 1e9 if spec.get("bandwidth_gbs") else table_bandwidth
    return {
        "peak_flops": peak,
        "peak_flops_source": "--peak_tflops" if spec.get("peak_tflops") else ("table" if peak else None),
        "bandwidth_bytes_per_second": bandwidth,
        "bandwidth_source": "--bandwidth_gbs" if spec.get("bandwidth_gbs") else ("table" if bandwidth else None),
    }


def train_figures(
    spec: Mapping[str, Any], median_step_seconds: float, xla_flops: float | None, kind: str
) -> dict[str, Any]:
    """Model FLOPs of a step, the FLOP/s achieved and MFU (None, with a reason, without a peak)."""
    flops = train_flops({k: spec[k] for k in DEFAULT_SHAPE}, spec["batch"], spec["seq"])
    achieved = flops["total"] / median_step_seconds
    peak = rates(spec, kind)["peak_flops"]
    return {
        "model_flops_per_step": flops["total"],
        "dense_flops_per_step": flops["dense"],
        "attention_flops_per_step": flops["attention"],
        "achieved_tflops": achieved / 1e12,
        "xla_flops_to_model_flops": xla_flops / flops["total"] if xla_flops else None,
        "mfu": achieved / peak if peak else None,
        "mfu_reason": None if peak else f"no peak FLOP/s known for device kind {kind!r}; pass --peak_tflops",
    }


def decode_figures(spec: Mapping[str, Any], tokens_per_second: float, kind: str) -> dict[str, Any]:
    """Bytes a decoding step reads, the bandwidth bound and the share of it achieved (None, with a
    reason, without a bandwidth)."""
    read = decode_bytes({k: spec[k] for k in DEFAULT_SHAPE}, spec["batch"], spec["prompt_len"], spec["new_tokens"])
    bandwidth = rates(spec, kind)["bandwidth_bytes_per_second"]
    bound = spec["batch"] * bandwidth / (read["weights"] + read["mean_cache"]) if bandwidth else None
    return {
        "weight_bytes": read["weights"],
        "mean_cache_bytes": read["mean_cache"],
        "bound_tokens_per_second": bound,
        "fraction_of_bound": tokens_per_second / bound if bound else None,
        "bound_reason": None if bound else f"no memory bandwidth known for device kind {kind!r}; pass --bandwidth_gbs",
    }


def run(spec: Mapping[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains and decodes the model ``spec`` describes; the report ``tools/bench.py gpu`` prints.

    ``spec``: the shape (``layers width heads kv_heads mlp vocab``), ``pe``, ``remat``,
    ``scan_layers``, ``attention_impl``, ``batch``, ``seq``, ``steps``, ``prompt_len``,
    ``new_tokens``, ``repeats``, ``seed`` and the optional overrides ``peak_tflops`` and
    ``bandwidth_gbs`` (None: from the device table).
    """
    check_spec(spec)
    import jax

    from mathpe_jax.parallel.mesh import make_mesh

    device = jax.devices()[0]
    kind = device.device_kind
    shape = {k: spec[k] for k in DEFAULT_SHAPE}
    log(f"device: {kind} ({device.platform}), jax {jax.__version__}; measuring one chip")
    if device.platform == "cpu" and shape == DEFAULT_SHAPE:
        log(
            "note: no accelerator; the default ~1B shape takes very long on a CPU (give a small one with --layers etc.)"
        )
    mesh = make_mesh(devices=[device])

    train = _train(spec, mesh, log)
    train.update(train_figures(spec, train["median_step_seconds"], train["xla_flops_per_step"], kind))
    mfu = f"{train['mfu']:.1%}" if train["mfu"] is not None else f"unknown ({train['mfu_reason']})"
    log(f"train: {train['tokens_per_second']:,.0f} tokens/s, {train['achieved_tflops']:.2f} TFLOP/s, MFU {mfu}")

    decode = _decode(spec, mesh, log)
    decode.update(decode_figures(spec, decode["tokens_per_second"], kind))
    share = decode["fraction_of_bound"]
    share = f"{share:.1%} of the bandwidth bound" if share is not None else f"bound unknown ({decode['bound_reason']})"
    log(f"decode: {decode['tokens_per_second']:,.1f} tokens/s, {share}")

    return {
        "mode": "gpu",
        "device_kind": kind,
        "platform": device.platform,
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
        **rates(spec, kind),
        "config": {
            **shape,
            "head_dim": spec["width"] // spec["heads"],
            "matmul_params": matmul_params(shape),
            **{k: spec[k] for k in ("pe", "remat", "scan_layers", "attention_impl", "seed")},
            "dtype": "bfloat16",
            "param_dtype": "float32 (training), bfloat16 (decoding)",
            "batch": spec["batch"],
            "seq": spec["seq"],
            "steps": spec["steps"],
            "prompt_len": spec["prompt_len"],
            "new_tokens": spec["new_tokens"],
            "repeats": spec["repeats"],
        },
        "mfu_flops": "analytic model FLOPs (6*N*B*T + 12*L*B*T^2*H*d/2), not XLA's count",
        "train": train,
        "decode": decode,
    }

