"""Hugging Face checkpoint <-> mathpe_jax checkpoint.

    python tools/convert_hf.py --hf_dir=PATH_OR_HUB_ID --out=DIR [--dtype=float32]
    python tools/convert_hf.py --to_hf --checkpoint=DIR --out=HF_DIR [--adapter=LORA_DIR [--peft_out=DIR]]

The first writes our checkpoint (parameters, model_config.json, the Hugging Face config and the
tokenizer files). The second writes a Hugging Face model directory from any checkpoint: a converted
one, or a run directory (trained from scratch, fine-tuned, or with LoRA: the adapters are merged
into the weights, and also written in PEFT format to ``HF_DIR/peft`` on the run's base model). With
``--adapter`` (a ``save_adapter`` directory) that adapter is written in PEFT format too (default
``HF_DIR/peft``).

No conversion loses what it is given or what it finds. ``--out`` and ``--peft_out`` must be new or
empty unless ``--overwrite`` is given; then only what a conversion writes (``WRITTEN``) is replaced.
Refused whatever ``--overwrite`` says, in one ``error:`` line: an output that is, holds or lies
inside an input (``--hf_dir``, ``--checkpoint``, ``--adapter``, a LoRA run's base model), and one
that is or lies inside a run directory, or whose replaced entries hold one. The files are written
into a hidden staging directory beside the output (``.NAME.tmp-PID-*``) and renamed into place only
once all are complete: a conversion that fails or is interrupted leaves the output as it was.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from absl import flags

from mathpe_jax import cli
from mathpe_jax.convert import ConversionError, export_hf, export_peft, load_hf, load_model, save_model
from mathpe_jax.convert.hf_config import HF_CONFIG, read_hf_config, template_for
from mathpe_jax.convert.load import resolve
from mathpe_jax.convert.native import saved_hf_config
from mathpe_jax.convert.output import check_apart, real, replaced, staged
from mathpe_jax.convert.peft import CONFIG_FILE as PEFT_CONFIG
from mathpe_jax.convert.peft import WEIGHTS_FILE as PEFT_WEIGHTS
from mathpe_jax.data.hf_tokenizer import HFTokenizer
from mathpe_jax.errors import UserError
from mathpe_jax.inference import load_checkpoint
from mathpe_jax.model.lora import load_adapter, lora_modules, merge_lora
from mathpe_jax.run.layout import CHECKPOINTS as RUN_CHECKPOINTS
from mathpe_jax.run.layout import CONFIG as RUN_CONFIG
from mathpe_jax.run.layout import LOCK as RUN_LOCK

TOKENIZER_DIR = "tokenizer"
PEFT_DIR = "peft"
TOKENIZER_PATTERNS = (
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template*",
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
    HF_CONFIG,
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    PEFT_DIR,
    *TOKENIZER_PATTERNS,
)
PEFT_WRITTEN = (PEFT_CONFIG, PEFT_WEIGHTS)

FLAGS = cli.tool_flags()
flags.DEFINE_string("hf_dir", None, "Hugging Face model directory or hub id to convert", flag_values=FLAGS)
flags.DEFINE_string("out", None, "output directory (new or empty, unless --overwrite)", required=True,
                    flag_values=FLAGS)
flags.DEFINE_bool("overwrite", False, "replace what an earlier conversion wrote in a non-empty --out",
                  flag_values=FLAGS)
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16", "float16"], "parameter dtype of the conversion",
                  flag_values=FLAGS)
flags.DEFINE_bool("to_hf", False, "convert --checkpoint back to a Hugging Face directory", flag_values=FLAGS)
flags.DEFINE_string("checkpoint", None, "our converted checkpoint or a run directory (with --to_hf)",
                    flag_values=FLAGS)
flags.DEFINE_string("adapter", None, "a save_adapter directory to export in PEFT format (with --to_hf)",
                    flag_values=FLAGS)
flags.DEFINE_string("peft_out", None, "where the --adapter goes in PEFT format (default: OUT/peft)",
                    flag_values=FLAGS)


def is_run(path: Path) -> bool:
    """A run directory of this project, also one whose config.json was lost or replaced."""
    if (path / RUN_LOCK).is_file() and (path / RUN_CHECKPOINTS).is_dir():
        return True
    try:
        config = json.loads((path / RUN_CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "task" in config


def refuse_runs(flag: str, out: Path, written: tuple[str, ...]) -> None:
    """A run's files are never a conversion's to replace: not the run, nothing inside it, and no run
    among the entries ``--overwrite`` would replace."""
    target = real(out)
    for path in (target, *target.parents):
        if is_run(path):
            where = "is a run directory" if path == target else f"lies inside the run directory {path}"
            raise ConversionError(f"{flag}={out} {where}; write the conversion somewhere else")
    for path in replaced(target, written):
        if path.is_dir() and is_run(path):
            raise ConversionError(f"{flag}={out} holds the run directory {path}, which --overwrite would replace")


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Tokenizer (and generation config) files travel with the weights in both directions."""
    for pattern in TOKENIZER_PATTERNS:
        for path in src.glob(pattern):
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / path.name)


def from_hf(hf_dir: str, out: Path, out_name: Path, dtype: str) -> list[str]:
    """Writes our checkpoint of ``hf_dir`` into ``out`` (staged, to become ``out_name``)."""
    source = resolve(hf_dir)
    model, cfg, hf_config = load_hf(source, dtype=dtype)
    save_model(model, cfg, out, hf_config=hf_config)
    copy_tokenizer(source, out / TOKENIZER_DIR)
    return [f"wrote {out_name} ({hf_config['model_type']}, {cfg.num_layers} layers, {dtype})"]


def _run_config(checkpoint: Path) -> dict | None:
    """The run config of a run directory, or None for a converted checkpoint."""
    path = checkpoint / RUN_CONFIG
    if not path.is_file() or (checkpoint / "model_config.json").is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConversionError(f"{path} is not valid JSON: {err}") from None
    return config if isinstance(config, dict) and "task" in config else None


def _base_model(run_config: dict | None) -> str | None:
    """The Hugging Face model a run was fine-tuned from (``init.hf_dir``), if any."""
    return (run_config or {}).get("init", {}).get("hf_dir") or None


def to_hf(
    checkpoint: Path, adapter: str | None, out: Path, out_name: Path, peft_out: Path, peft_name: Path
) -> list[str]:
    """Writes the Hugging Face model of ``checkpoint`` into ``out`` and ``adapter`` into ``peft_out``
    (both staged, to become ``out_name`` and ``peft_name``: the names reported and recorded)."""
    if not checkpoint.is_dir():
        raise ConversionError(f"--checkpoint={checkpoint} is not a directory")
    run_config = _run_config(checkpoint)
    base = _base_model(run_config)
    if run_config is None:  # our converted checkpoint: it keeps the Hugging Face config it came from
        template = saved_hf_config(checkpoint)
        if template is None:
            raise ConversionError(f"{checkpoint} has no hf_config.json: it was not converted from Hugging Face")
        model, _ = load_model(checkpoint)
        tokenizer = None
    else:
        model, tokenizer = _open_run(checkpoint)
        template = read_hf_config(resolve(base)) if base else template_for(model.config)
    report = []
    if lora_modules(model):  # a LoRA run: the adapters alone for PEFT, then merged into the weights
        if adapter:
            raise ConversionError(f"--adapter={adapter} cannot go with --checkpoint={checkpoint}, a LoRA run")
        export_peft(model, out / PEFT_DIR, template, base_model=base)
        report.append(f"wrote {out_name / PEFT_DIR} (PEFT adapter on {base})")
        merge_lora(model)
    export_hf(model, out, template)
    report.append(f"wrote {out_name}")
    write_tokenizer(checkpoint, tokenizer, out, out_name)
    if adapter:
        export_peft(load_adapter(model, adapter), peft_out, template, base_model=str(out_name.absolute()))
        report.append(f"wrote {peft_name}")
    return report


def _open_run(workdir: Path):
    """The model (its newest good checkpoint) and tokenizer of a run directory."""
    try:
        loaded = load_checkpoint(str(workdir))
    except (ValueError, FileNotFoundError) as err:  # the loader's one-line complaints about the directory
        raise ConversionError(str(err)) from None
    return loaded.model, loaded.tokenizer


def write_tokenizer(checkpoint: Path, tokenizer, out: Path, out_name: Path) -> None:
    """A Hugging Face tokenizer goes along; ours (characters, SentencePiece) have no such form."""
    if (checkpoint / TOKENIZER_DIR).is_dir():
        copy_tokenizer(checkpoint / TOKENIZER_DIR, out)
    elif isinstance(tokenizer, HFTokenizer):
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(tokenizer.name).save_pretrained(out)
    elif tokenizer is not None:
        print(
            f"warning: the run's {type(tokenizer).__name__} has no Hugging Face form; {out_name} holds the weights "
            "and config only",
            file=sys.stderr,
        )


def inputs(hf_dir: str | None, checkpoint: str | None, adapter: str | None) -> dict[str, Path]:
    """What a conversion reads, by flag: local paths only (a hub id is read from the hub's cache)."""
    named = {"--hf_dir": hf_dir, "--checkpoint": checkpoint, "--adapter": adapter}
    if checkpoint and Path(checkpoint).is_dir():
        named["the base model of --checkpoint"] = _base_model(_run_config(Path(checkpoint)))
    return {label: Path(value) for label, value in named.items() if value and Path(value).exists()}


def convert(
    out: Path,
    *,
    hf_dir: str | None = None,
    checkpoint: str | None = None,
    adapter: str | None = None,
    peft_out: Path | None = None,
    overwrite: bool = False,
    dtype: str = "float32",
) -> list[str]:
    """One conversion (``--to_hf`` when ``checkpoint`` is given), all its outputs checked before
    anything is read and written through staging; returns the lines to report."""
    if peft_out is not None and real(peft_out) == real(out / PEFT_DIR):
        peft_out = None  # the default place, staged with --out
    outputs = {"--out": (out, WRITTEN), **({"--peft_out": (peft_out, PEFT_WRITTEN)} if peft_out else {})}
    sources = inputs(hf_dir, checkpoint, adapter)
    for flag, (path, written) in outputs.items():
        check_apart(flag, path, {**sources, **{other: p for other, (p, _) in outputs.items() if other != flag}})
        refuse_runs(flag, path, written)
    with contextlib.ExitStack() as stack:
        dirs = {}
        for flag, (path, written) in outputs.items():
            dirs[flag] = stack.enter_context(staged(flag, path, written, overwrite))
        if not checkpoint:
            return from_hf(str(hf_dir), dirs["--out"], out, dtype)
        peft_dir, peft_name = (dirs["--peft_out"], peft_out) if peft_out else (dirs["--out"] / PEFT_DIR, out / PEFT_DIR)
        return to_hf(Path(checkpoint), adapter, dirs["--out"], out, peft_dir, peft_name)


def _interrupted(signum: int, frame) -> NoReturn:
    """SIGTERM (a scheduler's or ``timeout``'s) unwinds like Ctrl-C, so the staging directory goes too."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str]) -> int:
    """``tools/convert_hf.py`` with ``argv`` the arguments after the program name; the exit status."""
    if extra := cli.parse_tool_flags(FLAGS, argv, __doc__):
        cli.fail(f"unexpected arguments {' '.join(extra)}: every input is a flag")
    if FLAGS.to_hf == bool(FLAGS.hf_dir) or FLAGS.to_hf != bool(FLAGS.checkpoint):
        cli.fail("give either --hf_dir, or --to_hf with --checkpoint")
    if FLAGS.adapter and not FLAGS.to_hf:
        cli.fail("--adapter goes with --to_hf")
    if FLAGS.peft_out and not FLAGS.adapter:
        cli.fail("--peft_out goes with --adapter")
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        report = convert(
            Path(FLAGS.out),
            hf_dir=FLAGS.hf_dir,
            checkpoint=FLAGS.checkpoint,
            adapter=FLAGS.adapter,
            peft_out=Path(FLAGS.peft_out) if FLAGS.peft_out else None,
            overwrite=FLAGS.overwrite,
            dtype=FLAGS.dtype,
        )
    except UserError as err:
        cli.fail(str(err))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
