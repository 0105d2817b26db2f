"""Benchmarks of mathpe_jax (the ``benchmarks`` package): against transformers, on a GPU, serving, grading.

    python tools/bench.py decode --hf_dir=DIR --batch=8 --prompt_len=64 --new_tokens=64 [--peer=hf|none] [--repeats=3]
    python tools/bench.py train --hf_dir=DIR --batch=8 --seq=256 [--lora_rank=8] [--peer=hf|none] [--steps=5]
    python tools/bench.py make-model --out=DIR --layers=8 --width=512 --heads=8 --kv_heads=8 --vocab=32000 --mlp=1208
    python tools/bench.py gpu [--pe=rope] [--remat=dots] [--[no]scan_layers] [--batch=8] [--seq=2048] [--out=FILE]
    python tools/bench.py serve [--model=NAME=DIR ...] [--requests=100] [--max_batch=64] [--max_wait_ms=50] [--max_new_tokens=96] [--out=FILE]
    python tools/bench.py grading labels|throughput|load [--show_misses] [--n=5000] [--peer_n=300] [--threads=16] [--hogs=2] [--budget=5]

decode: greedy generation with exactly --new_tokens new tokens per row (our ``greedy_generate``
against ``model.generate``); train: one optimizer step (AdamW; with --lora_rank, LoRA on q/k/v/o
with the base frozen, against transformers + peft). Each framework runs in its own fresh process
(see ``benchmarks/peer.py``). make-model saves a random transformers Llama with a small BPE tokenizer
trained on arithmetic text, so benchmarks run offline and the directory works with
``tools/solve.py`` and ``AutoTokenizer``. decode, train and make-model need the ``bench`` extra
(torch, peft): ``pip install -e .[bench]``.

gpu: the prepared check of a GPU node (see ``benchmarks/gpu.py``): a ~1B Llama-shaped decoder
(TinyLlama-1.1B's shape unless the shape flags say otherwise) built from scratch, bfloat16 compute
over float32 master weights, trained (AdamW, full fine-tuning) then decoded on the first device:
step time, tokens/s, model FLOPs and MFU; decoding tokens/s against the memory-bandwidth bound.
Flags not given take the gpu defaults in ``benchmarks.gpu.DEFAULTS``, not the other modes'. Needs
no extra.

serve: the HTTP API under load (see ``benchmarks/serve.py``): --requests concurrent ``POST /solve``
sent at once, alternating between two models, against a fresh ``python -m mathpe_jax.serve`` on a
free loopback port, first with batching (--max_batch, --max_wait_ms), then without (max_batch=1);
the timed burst is the first after a warm-up that compiles no new shape (at most --warmup_bursts
untimed ones). The models are the --model NAME=DIR specs, or, when none is given, two random
Llama-shaped checkpoints (~20M parameters) made once into --workdir and reused (the bench extra).

grading: the grader against plain math-verify (see ``benchmarks/grading.py``): labels scores both on
the human-labelled pairs in ``tests/grading/data``; throughput measures answers per second on MATH
completions; load repeats the calls from --threads threads beside --hogs busy processes.

Every mode but make-model prints progress lines, then, last, its report as one JSON line, which
--out also writes to a file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from absl import flags

from benchmarks import gpu, grading, models, peer, serve
from mathpe_jax import cli
from mathpe_jax.grading.equivalence import DEFAULT_BUDGET_S

FLAGS = cli.tool_flags()
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory (decode, train)", flag_values=FLAGS)
flags.DEFINE_integer("batch", 8, "rows per generate call or training step (decode, train, gpu)", flag_values=FLAGS)
flags.DEFINE_integer(
    "prompt_len", 64, "prompt tokens per row (decode, gpu; a multiple of 8; gpu default 128)", flag_values=FLAGS
)
flags.DEFINE_integer(
    "new_tokens", 64, "tokens generated per row (decode, gpu; a multiple of 8; gpu default 128)", flag_values=FLAGS
)
flags.DEFINE_integer(
    "repeats", 3, "timed generate calls after the warm-up (decode, gpu); the median counts", flag_values=FLAGS
)
flags.DEFINE_integer("seq", 256, "tokens per row (train, gpu; gpu default 2048)", flag_values=FLAGS)
flags.DEFINE_integer(
    "lora_rank", 0, "LoRA rank on q/k/v/o with the base frozen; 0 trains every parameter (train)", flag_values=FLAGS
)
flags.DEFINE_integer(
    "steps", 5, "timed training steps after the warm-up (train, gpu; gpu default 10); the median counts",
    flag_values=FLAGS,
)
flags.DEFINE_enum("peer", "hf", ["hf", "none"], "also measure transformers, or only ourselves", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "seed of the random token ids (and of the weights, gpu)", flag_values=FLAGS)
flags.DEFINE_string("out", None, "where make-model saves the model; where the other modes write their JSON report",
                    flag_values=FLAGS)
flags.DEFINE_integer("layers", 2, "make-model, gpu: decoder layers (gpu default 22)", flag_values=FLAGS)
flags.DEFINE_integer("width", 128, "make-model, gpu: hidden size (gpu default 2048)", flag_values=FLAGS)
flags.DEFINE_integer("heads", 4, "make-model, gpu: attention heads (gpu default 32)", flag_values=FLAGS)
flags.DEFINE_integer("kv_heads", 4, "make-model, gpu: key/value heads (gpu default 4)", flag_values=FLAGS)
flags.DEFINE_integer("vocab", 32000, "make-model, gpu: vocabulary size", flag_values=FLAGS)
flags.DEFINE_integer("mlp", 344, "make-model, gpu: MLP intermediate size (gpu default 5632)", flag_values=FLAGS)
flags.DEFINE_string("pe", "rope", "gpu: positional encoding (a name of mathpe_jax.pe.REGISTRY)", flag_values=FLAGS)
flags.DEFINE_enum("remat", "dots", ["none", "dots", "full"], "gpu: what the backward pass keeps of each layer",
                  flag_values=FLAGS)
flags.DEFINE_bool("scan_layers", True, "gpu: run the layer stack as one scan over stacked weights", flag_values=FLAGS)
flags.DEFINE_enum("attention_impl", "auto", ["xla", "cudnn", "auto"], "gpu: attention kernel", flag_values=FLAGS)
flags.DEFINE_float("peak_tflops", None, "gpu: the chip's peak dense bf16 TFLOP/s, instead of the device table",
                   flag_values=FLAGS)
flags.DEFINE_float("bandwidth_gbs", None, "gpu: the chip's memory bandwidth in GB/s, instead of the device table",
                   flag_values=FLAGS)
flags.DEFINE_multi_string(
    "model", [], "serve: NAME=DIR, a model to serve (repeat; none: two random Llama-shaped checkpoints)",
    flag_values=FLAGS,
)
flags.DEFINE_string("workdir", "runs/bench_serve", "serve: where the default models are made and reused",
                    flag_values=FLAGS)
flags.DEFINE_integer("requests", 100, "serve: concurrent /solve requests per timed burst", flag_values=FLAGS)
flags.DEFINE_integer("max_batch", 64, "serve: the server's max_batch with batching on (off: 1)", flag_values=FLAGS)
flags.DEFINE_float(
    "max_wait_ms", 50.0, "serve: how long a batch waits for more requests after its first (gathers a burst)",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "max_new_tokens", 96, "serve: max_new_tokens of every request (both modes do the same work)", flag_values=FLAGS
)
flags.DEFINE_integer("warmup_bursts", 6, "serve: untimed bursts at most before the timed one", flag_values=FLAGS)
flags.DEFINE_float("request_timeout_s", 600.0, "serve: the client's timeout per request", flag_values=FLAGS)
flags.DEFINE_bool("show_misses", False, "grading labels: print every line a grader gets wrong", flag_values=FLAGS)
flags.DEFINE_integer("n", 5000, "grading throughput: MATH completions graded by mathpe_jax", flag_values=FLAGS)
flags.DEFINE_integer("peer_n", 300, "grading throughput: of which math-verify grades the first N", flag_values=FLAGS)
flags.DEFINE_integer("threads", 16, "grading load: threads calling the grader at once", flag_values=FLAGS)
flags.DEFINE_integer("hogs", 2, "grading load: CPU-bound processes running meanwhile", flag_values=FLAGS)
flags.DEFINE_float("budget", DEFAULT_BUDGET_S, "grading load: timeout_s (CPU seconds) per call", flag_values=FLAGS)

MAKE_MODEL_FLAGS = ("layers", "width", "heads", "kv_heads", "vocab", "mlp", "seed")
# Each mode's benchmark (``check_spec(spec)``, ``run(spec, log) -> report``) and the flags its spec
# holds, by name.
CHECKS: dict[str, tuple[ModuleType, tuple[str, ...]]] = {
    "decode": (peer, ("peer", "hf_dir", "batch", "seed", "prompt_len", "new_tokens", "repeats")),
    "train": (peer, ("peer", "hf_dir", "batch", "seed", "seq", "lora_rank", "steps")),
    "gpu": (gpu, (*gpu.DEFAULTS, "pe", "remat", "scan_layers", "attention_impl", "seed", "peak_tflops",
                  "bandwidth_gbs")),
    "serve": (serve, ("model", "workdir", "requests", "max_batch", "max_wait_ms", "max_new_tokens", "warmup_bursts",
                      "request_timeout_s")),
    "grading": (grading, ("show_misses", "n", "peer_n", "threads", "hogs", "budget")),
}
MODES = ("decode", "train", "make-model", "gpu", "serve", "grading")


def spec_of(mode: str, names: Sequence[str]) -> dict[str, Any]:
    """The flags ``names`` by name; for gpu, a flag not given takes the gpu default, not the other modes'."""
    defaults = gpu.DEFAULTS if mode == "gpu" else {}
    return {
        name: defaults[name] if name in defaults and not FLAGS[name].present else FLAGS[name].value for name in names
    }


def make_model() -> None:
    """Saves a random Llama and its tokenizer to --out: a model the other modes read without a download."""
    if not FLAGS.out:
        cli.fail("make-model needs --out")
    try:
        params = models.make_llama(FLAGS.out, **spec_of("make-model", MAKE_MODEL_FLAGS))
    except ValueError as err:
        cli.fail(str(err))
    print(f"wrote {FLAGS.out}: Llama, {params:,} parameters ({params / 1e6:.1f}M), with its tokenizer")


def run_check(mode: str, kind: str) -> None:
    """The benchmark of ``mode`` (``kind``: the mode, or grading's labels, throughput or load): its
    progress lines, then its report, written to --out and printed last as one JSON line."""
    check, names = CHECKS[mode]
    spec = {**spec_of(mode, names), "mode": kind}
    try:
        check.check_spec(spec)
    except ValueError as err:
        cli.fail(str(err))
    report = check.run(spec, log=lambda line: print(line, flush=True))
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


def main(argv: Sequence[str]) -> int:
    """``tools/bench.py MODE [FLAGS]``, with ``argv`` the arguments after the program name."""
    args = cli.parse_tool_flags(FLAGS, argv, __doc__)
    mode = args[0] if args else None
    if mode not in MODES or len(args) != (2 if mode == "grading" else 1):
        cli.fail(f"give one of {', '.join(MODES)} (grading: then one of {', '.join(grading.MODES)})")
    if mode == "make-model":
        make_model()
    else:
        run_check(mode, args[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
