"""Hugging Face checkpoint <-> mathpe_jax checkpoint.

    python tools/convert_hf.py --hf_dir=PATH_OR_HUB_ID --out=DIR [--dtype=float32]
    python tools/convert_hf.py --to_hf --checkpoint=DIR --out=HF_DIR [--adapter=LORA_DIR [--peft_out=DIR]]

The first writes our checkpoint (parameters, model_config.json, the Hugging Face config and the
tokenizer files); the second writes a Hugging Face model directory back, and with ``--adapter`` (a
``save_adapter`` directory) also that adapter in PEFT format (default ``HF_DIR/peft``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mathpe_jax.convert import ConversionError, export_hf, export_peft, load_hf, load_model, save_model  # noqa: E402
from mathpe_jax.convert.load import resolve  # noqa: E402
from mathpe_jax.convert.native import saved_hf_config  # noqa: E402
from mathpe_jax.model.lora import load_adapter  # noqa: E402

TOKENIZER_DIR = "tokenizer"
TOKENIZER_PATTERNS = (
    "tokenizer*",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "*.model",
    "generation_config.json",
)

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory or hub id to convert")
flags.DEFINE_string("out", None, "output directory", required=True)
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16", "float16"], "parameter dtype of the conversion")
flags.DEFINE_bool("to_hf", False, "convert our --checkpoint back to a Hugging Face directory")
flags.DEFINE_string("checkpoint", None, "our checkpoint directory (with --to_hf)")
flags.DEFINE_string("adapter", None, "a save_adapter directory to export in PEFT format (with --to_hf)")
flags.DEFINE_string("peft_out", None, "where the PEFT adapter goes (default: OUT/peft)")


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Tokenizer (and generation config) files travel with the weights in both directions."""
    for pattern in TOKENIZER_PATTERNS:
        for path in src.glob(pattern):
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / path.name)


def from_hf() -> None:
    source = resolve(FLAGS.hf_dir)
    model, cfg, hf_config = load_hf(source, dtype=FLAGS.dtype)
    out = save_model(model, cfg, FLAGS.out, hf_config=hf_config)
    copy_tokenizer(source, out / TOKENIZER_DIR)
    print(f"wrote {out} ({hf_config['model_type']}, {cfg.num_layers} layers, {FLAGS.dtype})")


def to_hf() -> None:
    hf_config = saved_hf_config(FLAGS.checkpoint)
    if hf_config is None:
        raise ConversionError(f"{FLAGS.checkpoint} has no hf_config.json: it was not converted from Hugging Face")
    model, _ = load_model(FLAGS.checkpoint)
    out = export_hf(model, FLAGS.out, hf_config)
    copy_tokenizer(Path(FLAGS.checkpoint) / TOKENIZER_DIR, out)
    print(f"wrote {out}")
    if FLAGS.adapter:
        peft_out = export_peft(load_adapter(model, FLAGS.adapter), FLAGS.peft_out or out / "peft", hf_config)
        print(f"wrote {peft_out}")


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.to_hf == bool(FLAGS.hf_dir) or FLAGS.to_hf != bool(FLAGS.checkpoint):
        raise app.UsageError("give either --hf_dir, or --to_hf with --checkpoint")
    if FLAGS.adapter and not FLAGS.to_hf:
        raise app.UsageError("--adapter goes with --to_hf")
    try:
        if FLAGS.to_hf:
            to_hf()
        else:
            from_hf()
    except ConversionError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    app.run(main)
