"""Whether a run fits, before it is queued: its training and decoding steps compiled ahead of time
with shape-only parameters, per device, on the run's own mesh.

Nothing is allocated: the model is built by ``nnx.eval_shape`` from the run config (and, for a
pretrained checkpoint, its ``config.json`` alone), the optimizer state by ``jax.eval_shape``, and
each step is lowered with ``jax.ShapeDtypeStruct`` arguments that carry their shardings. The
compiled executable's ``memory_analysis()`` gives arguments, temporaries and outputs per device;
``cost_analysis()`` its FLOPs. What autodiff keeps for the backward pass is read from the jaxpr
(``saved_residuals`` of one micro-batch's loss), so it does not depend on the backend.

The figures are those of the backend that compiles: on a CPU (simulated devices), XLA makes
float32 copies of bfloat16 matmul operands that a GPU would not, which raises temporaries; under a
scanned layer stack that copy is one layer's weights at a time. See ``cpu_upcast_bytes``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec
from ml_collections import ConfigDict

from mathpe_jax import build
from mathpe_jax.data.batching import Batch
from mathpe_jax.decode import generate_loop
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.mesh import batch_rows, batch_sharding
from mathpe_jax.parallel.sharding import activation_sharding, state_shardings
from mathpe_jax.train.loss import lm_loss_sum
from mathpe_jax.train.optimizer import make_optimizer, opt_state_shardings
from mathpe_jax.train.step import TrainState, make_train_step, micro_batches

GB = 1e9


@dataclasses.dataclass(frozen=True)
class StepMemory:
    """One compiled step, per device, in bytes (FLOPs for the whole step, all devices)."""

    args: int
    temp: int
    output: int
    alias: int
    flops: float
    compile_seconds: float
    hlo: str = dataclasses.field(repr=False, default="")

    @property
    def total(self) -> int:
        """Live at the peak: arguments, temporaries and outputs, less outputs that reuse (alias)
        a donated argument's buffer."""
        return self.args + self.temp + self.output - self.alias


#: The plan compiles shapes only, and which token ids are digits (for PEs reading digit places)
#: changes no shape: one id stands in for the tokenizer's digits, which the plan never loads.
SHAPE_ONLY_DIGITS = (0,)


def model_config(config: ConfigDict, hf_config: Mapping[str, Any] | None, vocab_size: int) -> ModelConfig:
    """The run's ``ModelConfig``: from the checkpoint's config.json (then the run's PE and runtime
    choices) or from ``config.model``."""
    m = config.model
    if hf_config is None:
        return ModelConfig.from_config(m.to_dict(), vocab_size, SHAPE_ONLY_DIGITS)
    from mathpe_jax.convert.hf_config import model_config as from_hf

    cfg = from_hf(hf_config, dtype=m.dtype)
    return cfg.replace(remat=m.remat, attention_impl=m.attention_impl, scan_layers=m.scan_layers,
                       param_dtype=build.checkpoint_param_dtype(config), digit_ids=SHAPE_ONLY_DIGITS)


def abstract_model(config: ConfigDict, cfg: ModelConfig) -> Decoder:
    """The run's model as shapes only: the plain decoder of ``cfg`` with the run's changes
    (``build.adapt_model``: PE, LoRA adapters, stacked layers), as ``build.build_model`` makes it."""
    return nnx.eval_shape(lambda: build.adapt_model(config, Decoder(cfg.replace(scan_layers=False), rngs=nnx.Rngs(config.seed))))


def _placed(tree, shardings):
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def _compile(fn, *args, donate: tuple[int, ...] = ()) -> StepMemory:
    start = time.perf_counter()
    compiled = jax.jit(fn, donate_argnums=donate).lower(*args).compile()
    seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return StepMemory(
        args=int(memory.argument_size_in_bytes),
        temp=int(memory.temp_size_in_bytes),
        output=int(memory.output_size_in_bytes),
        alias=int(memory.alias_size_in_bytes),
        flops=float((cost or {}).get("flops", float("nan"))),
        compile_seconds=seconds,
        hlo=compiled.as_text(),
    )


def _batch(rows: int, length: int, mesh) -> Batch:
    sharding = batch_sharding(mesh)
    tokens = jax.ShapeDtypeStruct((rows, length), jnp.int32, sharding=sharding)
    return Batch(inputs=tokens, positions=tokens, targets=tokens,
                 loss_mask=jax.ShapeDtypeStruct((rows, length), jnp.float32, sharding=sharding))


def saved_activation_bytes(model: Decoder, trainable: Any, micro: Batch, mesh) -> tuple[int, list[tuple[str, int]]]:
    """Bytes per device that autodiff keeps between forward and backward for one micro-batch,
    and the largest residuals by description. Residuals that are the step's inputs (weights, the
    batch) are not counted: they are held anyway. An array with an axis of the micro-batch's rows
    counts 1 / (data x fsdp) of itself per device, as the rows are split that way."""
    graphdef, params, rest = nnx.split(model, trainable, ...)
    ways = batch_rows(mesh)

    # jax's own accounting of what vjp keeps; public only as print_saved_residuals, which prints it.
    from jax._src.ad_checkpoint import saved_residuals

    residuals = []

    def trace(params, rest, micro):
        """Differentiates the trainable part only, as the step does; the rest is a constant here."""

        def loss(params):
            model = nnx.merge(graphdef, params, rest)
            return lm_loss_sum(model, micro.inputs, micro.positions, micro.targets, micro.loss_mask)[0]

        residuals.extend(saved_residuals(loss, params))
        return 0

    with activation_sharding(mesh):
        jax.eval_shape(trace, params, rest, micro)
    rows = micro.inputs.shape[0]
    total, largest = 0, []
    for aval, description in residuals:
        if "from the argument" in description or "from a constant" in description or not hasattr(aval, "shape"):
            continue
        size = math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
        if rows % ways == 0 and rows in aval.shape:
            size //= ways
        total += size
        largest.append((f"{aval.str_short()} {description}", size))
    largest.sort(key=lambda item: -item[1])
    return total, largest[:5]


def plan_training(config: ConfigDict, model: Decoder, mesh) -> dict[str, Any]:
    """The run's training step (``train.step.make_train_step`` with its optimizer and trainable
    set) compiled ahead of time on ``mesh``, and the activations it saves."""
    train = dict(config.train)
    rows, length = train["batch_size"], config.task.max_len
    tx = make_optimizer(train)
    trainable = build.trainable(config)
    graphdef, params, rngs, frozen = nnx.split(model, trainable, nnx.RngState, ...)
    param_shardings = state_shardings(params, mesh)
    params = _placed(params, param_shardings)
    frozen = _placed(frozen, state_shardings(frozen, mesh))
    replicated = NamedSharding(mesh, PartitionSpec())
    rngs = _placed(rngs, jax.tree.map(lambda _: replicated, rngs))
    opt_state = _placed(jax.eval_shape(tx.init, params), opt_state_shardings(tx, params, param_shardings, mesh))
    state = TrainState(jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated), params, opt_state, rngs)
    batch = _batch(rows, length, mesh)
    step = _compile(make_train_step(graphdef, tx, train["grad_accum"], mesh), state, frozen, batch, donate=(0,))
    with activation_sharding(mesh):
        micro = jax.eval_shape(lambda b: jax.tree.map(lambda x: x[0], micro_batches(b, train["grad_accum"])), batch)
    micro = _batch(micro.inputs.shape[0], length, mesh)
    saved, largest = saved_activation_bytes(model, trainable, micro, mesh)
    return {
        "batch": rows,
        "micro_batch": rows // train["grad_accum"],
        "seq": length,
        "args_gb": step.args / GB,
        "temp_gb": step.temp / GB,
        "output_gb": step.output / GB,
        "alias_gb": step.alias / GB,
        "total_gb": step.total / GB,
        "saved_activations_gb": saved / GB,
        "largest_saved": [{"what": what, "gb": size / GB} for what, size in largest],
        "flops": step.flops,
        "model_flops": model_flops(model, rows * length, length, trains_base=build.lora_config(config) is None),
        "compile_seconds": step.compile_seconds,
        "cpu_upcast_gb": cpu_upcast_bytes(step.hlo, weight_shapes(model, mesh)) / GB,
    }


def model_flops(model: Decoder, tokens: int, seq: int, trains_base: bool) -> float:
    """Matmul FLOPs of one training step by formula: forward ``2 N`` per token for the N weights
    that matmuls read, plus ``2 x 2 x layers x (seq / 2) x heads x head_dim`` for causal attention's
    two products; backward twice the forward when every weight trains, once when the base is
    frozen (LoRA: no weight gradients, only input gradients). Remat's recomputation is not counted,
    as model-FLOPs utilisation does not count it. XLA's own ``flops`` counts a scanned loop's
    body once, so it falls short of this for a scanned stack."""
    cfg = model.config
    def is_matrix(path, x) -> bool:  # a scanned stack's arrays carry one more (layer) axis
        stacked = cfg.scan_layers and path[0] == "layers"
        return x.ndim >= 2 + stacked and (path[0] != "embed" or cfg.tie_embeddings)

    matrices = [x for path, x in nnx.to_flat_state(nnx.state(model, nnx.Param)) if is_matrix(path, x)]
    weights = sum(math.prod(x.shape) for x in matrices)
    attention = 2 * 2 * cfg.num_layers * (seq / 2) * cfg.num_heads * cfg.head_dim
    forward = tokens * (2 * weights + attention)
    return forward * (3 if trains_base else 2)


def plan_decoding(config: ConfigDict, model: Decoder, mesh, prompt_len: int) -> dict[str, Any]:
    """The greedy decoding loop (``decode.generate_loop``: prefill, then one token per step with the
    KV cache) for ``eval.batch_size`` prompts of ``prompt_len`` tokens and ``eval.max_new_tokens``."""
    rows, new_tokens = config.eval.batch_size, config.eval.max_new_tokens
    graphdef, state = nnx.split(model)
    state = _placed(state, state_shardings(state, mesh))
    replicated = NamedSharding(mesh, PartitionSpec())
    prompt = jax.ShapeDtypeStruct((rows, prompt_len), jnp.int32, sharding=replicated)

    def generate(state, tokens, positions):
        return generate_loop(graphdef, state, tokens, positions, max_new_tokens=new_tokens, eos_id=0, pad_id=0)

    with activation_sharding(mesh):
        step = _compile(generate, state, prompt, prompt)
    return {
        "cpu_upcast_gb": cpu_upcast_bytes(step.hlo, weight_shapes(model, mesh)) / GB,
        "batch": rows,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "args_gb": step.args / GB,
        "temp_gb": step.temp / GB,
        "total_gb": step.total / GB,
        "compile_seconds": step.compile_seconds,
    }


_F32_BUFFER = re.compile(r"^\s+(?:ROOT )?%\S+ = f32\[([0-9,]+)\]\{[0-9,]*\} (?:fusion|convert|copy)\(")


def weight_shapes(model: Decoder, mesh) -> set[tuple[int, ...]]:
    """Per-device shapes (and their transposes) of the model's bfloat16 matrices, one layer's slice
    for a scanned stack."""
    state = nnx.state(model, nnx.Param)
    shapes = set()
    for value, sharding in zip(jax.tree.leaves(state), jax.tree.leaves(state_shardings(state, mesh)), strict=True):
        if value.dtype == jnp.bfloat16 and value.ndim >= 2:
            shape = tuple(sharding.shard_shape(value.shape))[-2:]
            shapes |= {shape, shape[::-1]}
    return shapes


def cpu_upcast_bytes(hlo: str, shapes: set[tuple[int, ...]]) -> int:
    """Float32 buffers of a bfloat16 weight's shape in a compiled program: the copies a CPU makes
    so its matmuls can read weights in float32. Counted over the program's own computations (the
    entry and loop bodies, where buffers are allocated; fused computations are not), each buffer
    once: a loop body's copies count once however many layers the loop runs. An upper bound on
    what is live at once; a GPU makes none of them."""
    computation, total = "", 0
    for line in hlo.splitlines():
        if line and not line[0].isspace():
            computation = line.split(" ", 1)[0]
            continue
        match = _F32_BUFFER.match(line)
        if match and "fused" not in computation:
            shape = tuple(int(d) for d in match.group(1).split(","))
            if shape in shapes:
                total += 4 * math.prod(shape)
    return total


def plan(config: ConfigDict, mesh, hf_config: Mapping[str, Any] | None = None, vocab_size: int = 0,
         prompt_len: int = 0) -> dict[str, Any]:
    """Training and decoding plans of a run on ``mesh``, per device, in GB."""
    cfg = model_config(config, hf_config, vocab_size)
    model = abstract_model(config, cfg)
    params = sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    return {
        "config": config.name,
        "pe": config.model.pe.name,
        "devices": mesh.size,
        "mesh": dict(mesh.shape),
        "platform": jax.devices()[0].platform,
        "parameters": params,
        "model": {"width": cfg.width, "layers": cfg.num_layers, "heads": cfg.num_heads, "kv_heads": cfg.num_kv_heads,
                  "mlp": cfg.mlp_dim, "vocab": cfg.vocab_size, "dtype": cfg.dtype, "remat": cfg.remat,
                  "scan_layers": cfg.scan_layers, "lora_rank": config.lora.rank},
        "train": plan_training(config, model, mesh),
        "decode": plan_decoding(config, model, mesh, prompt_len or config.task.max_len),
    }
