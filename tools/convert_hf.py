"""Hugging Face checkpoint <-> mathpe_jax checkpoint.

    python tools/convert_hf.py --hf_dir=PATH_OR_HUB_ID --out=DIR [--dtype=float32]
    python tools/convert_hf.py --to_hf --checkpoint=DIR --out=HF_DIR [--adapter=LORA_DIR [--peft_out=DIR]]

The first writes our checkpoint (parameters, model_config.json, the Hugging Face config and the
tokenizer files). The second writes a Hugging Face model directory from any checkpoint: a converted
one, or a run directory (trained from scratch, fine-tuned, or with LoRA: the adapters are merged
into the weights, and also written in PEFT format to ``HF_DIR/peft`` on the run's base model). With
``--adapter`` (a ``save_adapter`` directory) that adapter is written in PEFT format too (default
``HF_DIR/peft``). ``--out`` must be empty or new unless ``--overwrite`` is given.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from absl import app, flags

from mathpe_jax import cli
from mathpe_jax.convert import ConversionError, export_hf, export_peft, load_hf, load_model, save_model
from mathpe_jax.convert.hf_config import read_hf_config, template_for
from mathpe_jax.convert.load import resolve
from mathpe_jax.convert.native import saved_hf_config
from mathpe_jax.data.hf_tokenizer import HFTokenizer
from mathpe_jax.inference import load_checkpoint
from mathpe_jax.model.lora import load_adapter, lora_modules, merge_lora

TOKENIZER_DIR = "tokenizer"
TOKENIZER_PATTERNS = (
    "tokenizer*",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "*.model",
    "generation_config.json",
)
# What a conversion writes, so that --overwrite replaces exactly that and nothing else of the user's.
WRITTEN = (
    "params",
    "model_config.json",
    "hf_config.json",
    TOKENIZER_DIR,
    "config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "peft",
    *TOKENIZER_PATTERNS,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory or hub id to convert")
flags.DEFINE_string("out", None, "output directory (new or empty, unless --overwrite)", required=True)
flags.DEFINE_bool("overwrite", False, "replace what an earlier conversion wrote in a non-empty --out")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16", "float16"], "parameter dtype of the conversion")
flags.DEFINE_bool("to_hf", False, "convert --checkpoint back to a Hugging Face directory")
flags.DEFINE_string("checkpoint", None, "our converted checkpoint or a run directory (with --to_hf)")
flags.DEFINE_string("adapter", None, "a save_adapter directory to export in PEFT format (with --to_hf)")
flags.DEFINE_string("peft_out", None, "where the PEFT adapter goes (default: OUT/peft)")


def prepare_out(out: Path, overwrite: bool) -> None:
    """Refuses a non-empty ``out`` unless ``overwrite``; then removes what a conversion writes there."""
    if out.exists() and not out.is_dir():
        raise ConversionError(f"--out={out} is a file, not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ConversionError(f"--out={out} is not empty; choose a new directory or pass --overwrite")
    for pattern in WRITTEN:
        for path in out.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Tokenizer (and generation config) files travel with the weights in both directions."""
    for pattern in TOKENIZER_PATTERNS:
        for path in src.glob(pattern):
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / path.name)


def from_hf(out: Path) -> None:
    source = resolve(FLAGS.hf_dir)
    model, cfg, hf_config = load_hf(source, dtype=FLAGS.dtype)
    save_model(model, cfg, out, hf_config=hf_config)
    copy_tokenizer(source, out / TOKENIZER_DIR)
    print(f"wrote {out} ({hf_config['model_type']}, {cfg.num_layers} layers, {FLAGS.dtype})")


def _run_config(checkpoint: Path) -> dict | None:
    """The run config of a run directory, or None for a converted checkpoint."""
    path = checkpoint / "config.json"
    if not path.is_file() or (checkpoint / "model_config.json").is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConversionError(f"{path} is not valid JSON: {err}") from None
    return config if isinstance(config, dict) and "task" in config else None


def to_hf(out: Path) -> None:
    checkpoint = Path(FLAGS.checkpoint)
    if not checkpoint.is_dir():
        raise ConversionError(f"--checkpoint={checkpoint} is not a directory")
    run_config = _run_config(checkpoint)
    if run_config is None:  # our converted checkpoint: it keeps the Hugging Face config it came from
        template = saved_hf_config(checkpoint)
        if template is None:
            raise ConversionError(f"{checkpoint} has no hf_config.json: it was not converted from Hugging Face")
        model, _ = load_model(checkpoint)
        tokenizer = None
    else:
        model, tokenizer = _open_run(checkpoint)
    base = (run_config or {}).get("init", {}).get("hf_dir") or None
    if run_config is not None:
        template = read_hf_config(resolve(base)) if base else template_for(model.config)
    if lora_modules(model):  # a LoRA run: the adapters alone for PEFT, then merged into the weights
        peft_out = export_peft(model, out / "peft", template, base_model=base)
        print(f"wrote {peft_out} (PEFT adapter on {base})")
        merge_lora(model)
    export_hf(model, out, template)
    print(f"wrote {out}")
    write_tokenizer(checkpoint, tokenizer, out)
    if FLAGS.adapter:
        adapted = load_adapter(model, FLAGS.adapter)
        peft_out = export_peft(adapted, FLAGS.peft_out or out / "peft", template, base_model=str(out.absolute()))
        print(f"wrote {peft_out}")


def _open_run(workdir: Path):
    """The model (its newest good checkpoint) and tokenizer of a run directory."""
    try:
        loaded = load_checkpoint(str(workdir))
    except (ValueError, FileNotFoundError) as err:  # the loader's one-line complaints about the directory
        raise ConversionError(str(err)) from None
    return loaded.model, loaded.tokenizer


def write_tokenizer(checkpoint: Path, tokenizer, out: Path) -> None:
    """A Hugging Face tokenizer goes along; ours (characters, SentencePiece) have no such form."""
    if (checkpoint / TOKENIZER_DIR).is_dir():
        copy_tokenizer(checkpoint / TOKENIZER_DIR, out)
    elif isinstance(tokenizer, HFTokenizer):
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(tokenizer.name).save_pretrained(out)
    elif tokenizer is not None:
        print(
            f"warning: the run's {type(tokenizer).__name__} has no Hugging Face form; {out} holds the weights and "
            "config only",
            file=sys.stderr,
        )


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.to_hf == bool(FLAGS.hf_dir) or FLAGS.to_hf != bool(FLAGS.checkpoint):
        raise app.UsageError("give either --hf_dir, or --to_hf with --checkpoint")
    if FLAGS.adapter and not FLAGS.to_hf:
        raise app.UsageError("--adapter goes with --to_hf")
    out = Path(FLAGS.out)
    prepare_out(out, FLAGS.overwrite)
    if FLAGS.to_hf:
        to_hf(out)
    else:
        from_hf(out)


if __name__ == "__main__":
    cli.run(main)
