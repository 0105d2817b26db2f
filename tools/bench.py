"""Tokens/s and peak memory of mathpe_jax against transformers, on the same model and inputs.

    python tools/bench.py decode --hf_dir=DIR --batch=8 --prompt_len=64 --new_tokens=64 [--peer=hf|none] [--repeats=3]
    python tools/bench.py train --hf_dir=DIR --batch=8 --seq=256 [--lora_rank=8] [--peer=hf|none] [--steps=5]
    python tools/bench.py make-model --out=DIR --layers=8 --width=512 --heads=8 --kv_heads=8 --vocab=32000 --mlp=1208
    python tools/bench.py gpu [--pe=rope] [--remat=dots] [--[no]scan_layers] [--batch=8] [--seq=2048] [--out=FILE]
    python tools/bench.py serve [--model=NAME=DIR ...] [--requests=100] [--max_batch=64] [--max_wait_ms=50] [--max_new_tokens=96] [--out=FILE]

decode: greedy generation with exactly --new_tokens new tokens per row (our ``greedy_generate``
against ``model.generate``); train: one optimizer step (AdamW; with --lora_rank, LoRA on q/k/v/o
with the base frozen, against transformers + peft). Each framework runs in its own fresh process
(see ``tools/bench_lib.py``). Progress goes first; the last line printed is one JSON object.
make-model saves a random transformers Llama with a small BPE tokenizer trained on arithmetic text,
so benchmarks run offline and the directory works with ``tools/solve.py`` and ``AutoTokenizer``.
decode, train and make-model need the ``bench`` extra (torch, peft): ``pip install -e .[bench]``.

gpu: the prepared check of a GPU node (see ``tools/bench_gpu.py``): a ~1B Llama-shaped decoder
(TinyLlama-1.1B's shape unless the shape flags say otherwise) built from scratch, bfloat16 compute
over float32 master weights, trained (AdamW, full fine-tuning) then decoded on the first device:
step time, tokens/s, model FLOPs and MFU; decoding tokens/s against the memory-bandwidth bound.
Flags not given take the gpu defaults in ``GPU_DEFAULTS``, not the other modes'; --out names a
JSON file for the report. Needs no extra.

serve: the HTTP API under load (see ``tools/bench_serve.py``): --requests concurrent ``POST /solve``
sent at once, alternating between two models, against a fresh ``python -m mathpe_jax.serve`` on a
free loopback port, first with batching (--max_batch, --max_wait_ms), then without (max_batch=1);
the timed burst is the first after a warm-up that compiles no new shape (at most --warmup_bursts
untimed ones). Per mode: errors, wall seconds, requests/s and generated tokens/s, client latency
p50/p99/max, mean batch size and the compiled shapes; then the throughput ratio. The models are the
--model NAME=DIR specs, or, when none is given, two random Llama-shaped checkpoints (~20M
parameters) made once into --workdir and reused (the bench extra: torch). --out names a JSON file.
"""

from __future__ import annotations

import json

import bench_gpu  # beside this script, which Python puts first on the import path
import bench_lib
import bench_serve
from absl import app, flags

from mathpe_jax import cli

MODES = ("decode", "train", "make-model", "gpu", "serve")

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory (decode, train)")
flags.DEFINE_integer("batch", 8, "rows per generate call or training step (decode, train, gpu)")
flags.DEFINE_integer("prompt_len", 64, "prompt tokens per row (decode, gpu; a multiple of 8; gpu default 128)")
flags.DEFINE_integer("new_tokens", 64, "tokens generated per row (decode, gpu; a multiple of 8; gpu default 128)")
flags.DEFINE_integer("repeats", 3, "timed generate calls after the warm-up (decode, gpu); the median counts")
flags.DEFINE_integer("seq", 256, "tokens per row (train, gpu; gpu default 2048)")
flags.DEFINE_integer("lora_rank", 0, "LoRA rank on q/k/v/o with the base frozen; 0 trains every parameter (train)")
flags.DEFINE_integer(
    "steps", 5, "timed training steps after the warm-up (train, gpu; gpu default 10); the median counts"
)
flags.DEFINE_enum("peer", "hf", ["hf", "none"], "also measure transformers, or only ourselves")
flags.DEFINE_integer("seed", 0, "seed of the random token ids (and of the weights, gpu)")
flags.DEFINE_string("out", None, "where make-model saves the model; where gpu and serve write their JSON report")
flags.DEFINE_integer("layers", 2, "make-model, gpu: decoder layers (gpu default 22)")
flags.DEFINE_integer("width", 128, "make-model, gpu: hidden size (gpu default 2048)")
flags.DEFINE_integer("heads", 4, "make-model, gpu: attention heads (gpu default 32)")
flags.DEFINE_integer("kv_heads", 4, "make-model, gpu: key/value heads (gpu default 4)")
flags.DEFINE_integer("vocab", 32000, "make-model, gpu: vocabulary size")
flags.DEFINE_integer("mlp", 344, "make-model, gpu: MLP intermediate size (gpu default 5632)")
flags.DEFINE_string("pe", "rope", "gpu: positional encoding (a name of mathpe_jax.pe.REGISTRY)")
flags.DEFINE_enum("remat", "dots", ["none", "dots", "full"], "gpu: what the backward pass keeps of each layer")
flags.DEFINE_bool("scan_layers", True, "gpu: run the layer stack as one scan over stacked weights")
flags.DEFINE_enum("attention_impl", "auto", ["xla", "cudnn", "auto"], "gpu: attention kernel")
flags.DEFINE_float("peak_tflops", None, "gpu: the chip's peak dense bf16 TFLOP/s, instead of the device table")
flags.DEFINE_float("bandwidth_gbs", None, "gpu: the chip's memory bandwidth in GB/s, instead of the device table")
flags.DEFINE_multi_string("model", [], "serve: NAME=DIR, a model to serve (repeat; none: two random Llama-shaped checkpoints)")
flags.DEFINE_string("workdir", "runs/bench_serve", "serve: where the default models are made and reused")
flags.DEFINE_integer("requests", 100, "serve: concurrent /solve requests per timed burst")
flags.DEFINE_integer("max_batch", 64, "serve: the server's max_batch with batching on (off: 1)")
flags.DEFINE_float("max_wait_ms", 50.0, "serve: how long a batch waits for more requests after its first (gathers a burst)")
flags.DEFINE_integer("max_new_tokens", 96, "serve: max_new_tokens of every request (both modes do the same work)")
flags.DEFINE_integer("warmup_bursts", 6, "serve: untimed bursts at most before the timed one (see bench_serve)")
flags.DEFINE_float("request_timeout_s", 600.0, "serve: the client's timeout per request")

# What gpu takes for a flag not given on the command line (the shape: TinyLlama-1.1B's).
GPU_DEFAULTS = {
    **bench_gpu.DEFAULT_SHAPE,
    "seq": 2048,
    "batch": 8,
    "steps": 10,
    "prompt_len": 128,
    "new_tokens": 128,
    "repeats": 3,
}
GPU_FLAGS = (
    *GPU_DEFAULTS,
    "pe",
    "remat",
    "scan_layers",
    "attention_impl",
    "seed",
    "peak_tflops",
    "bandwidth_gbs",
)


def make_model() -> None:
    if not FLAGS.out:
        raise app.UsageError("make-model needs --out")
    try:
        params = bench_lib.make_llama(
            FLAGS.out,
            layers=FLAGS.layers,
            width=FLAGS.width,
            heads=FLAGS.heads,
            kv_heads=FLAGS.kv_heads,
            vocab=FLAGS.vocab,
            mlp=FLAGS.mlp,
            seed=FLAGS.seed,
        )
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    print(f"wrote {FLAGS.out}: Llama, {params:,} parameters ({params / 1e6:.1f}M), with its tokenizer")


def gpu() -> None:
    spec = {
        name: FLAGS[name].value if FLAGS[name].present or name not in GPU_DEFAULTS else GPU_DEFAULTS[name]
        for name in GPU_FLAGS
    }
    run_check(bench_gpu, spec)


def serve() -> None:
    names = ("requests", "max_batch", "max_wait_ms", "max_new_tokens", "warmup_bursts", "request_timeout_s", "workdir")
    run_check(bench_serve, {**{name: FLAGS[name].value for name in names}, "models": list(FLAGS.model)})


def run_check(check, spec: dict) -> None:
    """A check module's run (``bench_gpu``, ``bench_serve``: ``check_spec``, ``run``, ``write``):
    progress lines, the report written to --out, and printed last as one JSON line."""
    try:
        check.check_spec(spec)
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    report = check.run(spec, log=lambda line: print(line, flush=True))
    if FLAGS.out:
        check.write(report, FLAGS.out)
    print(json.dumps(report))


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give one of {', '.join(MODES)}")
    mode = argv[1]
    if mode == "make-model":
        make_model()
        return
    if mode == "gpu":
        gpu()
        return
    if mode == "serve":
        serve()
        return
    if not FLAGS.hf_dir:
        raise app.UsageError(f"{mode} needs --hf_dir")
    spec = {"hf_dir": FLAGS.hf_dir, "batch": FLAGS.batch, "seed": FLAGS.seed}
    if mode == "decode":
        spec.update(prompt_len=FLAGS.prompt_len, new_tokens=FLAGS.new_tokens, repeats=FLAGS.repeats)
    else:
        spec.update(seq=FLAGS.seq, lora_rank=FLAGS.lora_rank, steps=FLAGS.steps)
    try:
        report = bench_lib.benchmark(mode, spec, peer=FLAGS.peer == "hf")
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    print(json.dumps(report))


if __name__ == "__main__":
    cli.run(main)
