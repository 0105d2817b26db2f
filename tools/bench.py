"""Tokens/s and peak memory of mathpe_jax against transformers, on the same model and inputs.

    python tools/bench.py decode --hf_dir=DIR --batch=8 --prompt_len=64 --new_tokens=64 [--peer=hf|none] [--repeats=3]
    python tools/bench.py train --hf_dir=DIR --batch=8 --seq=256 [--lora_rank=8] [--peer=hf|none] [--steps=5]
    python tools/bench.py make-model --out=DIR --layers=8 --width=512 --heads=8 --kv_heads=8 --vocab=32000 --mlp=1208

decode: greedy generation with exactly --new_tokens new tokens per row (our ``greedy_generate``
against ``model.generate``); train: one optimizer step (AdamW; with --lora_rank, LoRA on q/k/v/o
with the base frozen, against transformers + peft). Each framework runs in its own fresh process
(see ``tools/bench_lib.py``). Progress goes first; the last line printed is one JSON object.
make-model saves a random transformers Llama with a small BPE tokenizer trained on arithmetic text,
so benchmarks run offline and the directory works with ``tools/solve.py`` and ``AutoTokenizer``.
Needs the ``bench`` extra (torch, peft): ``pip install -e .[bench]``.
"""

from __future__ import annotations

import json

import bench_lib  # beside this script, which Python puts first on the import path
from absl import app, flags

from mathpe_jax import cli

MODES = ("decode", "train", "make-model")

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory (decode, train)")
flags.DEFINE_integer("batch", 8, "rows per generate call or training step")
flags.DEFINE_integer("prompt_len", 64, "prompt tokens per row (decode; a multiple of 8)")
flags.DEFINE_integer("new_tokens", 64, "tokens generated per row (decode; a multiple of 8)")
flags.DEFINE_integer("repeats", 3, "timed generate calls after the warm-up (decode); the median counts")
flags.DEFINE_integer("seq", 256, "tokens per row (train)")
flags.DEFINE_integer("lora_rank", 0, "LoRA rank on q/k/v/o with the base frozen; 0 trains every parameter (train)")
flags.DEFINE_integer("steps", 5, "timed training steps after the warm-up (train); the median counts")
flags.DEFINE_enum("peer", "hf", ["hf", "none"], "also measure transformers, or only ourselves")
flags.DEFINE_integer("seed", 0, "seed of the random token ids")
flags.DEFINE_string("out", None, "where make-model saves the model")
flags.DEFINE_integer("layers", 2, "make-model: decoder layers")
flags.DEFINE_integer("width", 128, "make-model: hidden size")
flags.DEFINE_integer("heads", 4, "make-model: attention heads")
flags.DEFINE_integer("kv_heads", 4, "make-model: key/value heads")
flags.DEFINE_integer("vocab", 32000, "make-model: vocabulary size")
flags.DEFINE_integer("mlp", 344, "make-model: MLP intermediate size")


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


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give one of {', '.join(MODES)}")
    mode = argv[1]
    if mode == "make-model":
        make_model()
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
