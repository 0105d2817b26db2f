"""Per-device memory and FLOPs of a run's training and decoding steps, before it is queued.

    python tools/plan_memory.py --config=configs/pairings/node4_t5_llama2.py
    python tools/plan_memory.py --config=configs/rope.py --devices=8 --config.mesh.fsdp=8 --json

The run's steps are compiled ahead of time with shape-only parameters (nothing is allocated, no
weights are read) on ``--devices`` simulated CPU devices and the run's ``config.mesh``. The table
gives, per device: arguments (weights, optimizer state, batch), what autodiff saves for the backward
pass (from the jaxpr), temporaries and the compiled total, for training and for greedy decoding.
``--json`` prints one JSON object instead. A checkpoint named by hub id is planned from its
config.json: a local directory, the Hugging Face cache, or the shape card in ``configs/shapes/``.

CPU versus GPU: a CPU compilation makes float32 copies of bfloat16 weights that matmuls read
(``train.cpu_upcast_gb``, an upper bound); a GPU does not, so a GPU's total is about
``total_gb - cpu_upcast_gb``. Temporaries also differ by backend (fusion, kernels); arguments and
saved activations do not.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# The simulated device count is fixed when JAX starts: read it before anything imports JAX.
_DEVICES = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--devices=")), "1")
if _DEVICES.isdigit() and int(_DEVICES) > 1:
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={_DEVICES}"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from absl import flags  # noqa: E402

from mathpe_jax import cli  # noqa: E402
from mathpe_jax.errors import UserError  # noqa: E402

SHAPES = Path(__file__).resolve().parents[1] / "configs" / "shapes"

FLAGS = flags.FLAGS
CONFIG = cli.DEFINE_config_file("config", "configs/rope.py", "the run config to plan")
flags.DEFINE_integer("devices", 1, "simulated CPU devices (the mesh is config.mesh over them)")
flags.DEFINE_integer("prompt_len", 0, "decoding prompt tokens (0: task.max_len)")
flags.DEFINE_bool("json", False, "print one JSON object instead of the table")


def checkpoint_config(hf_dir: str) -> dict:
    """config.json of ``hf_dir``: a directory, the Hugging Face cache, the shipped shape card, or
    (last, as it waits on the network) the hub."""
    from mathpe_jax.convert.hf_config import HF_CONFIG, read_hf_config

    if Path(hf_dir).is_dir():
        return read_hf_config(hf_dir)
    import huggingface_hub

    cached = huggingface_hub.try_to_load_from_cache(hf_dir, HF_CONFIG)
    card = SHAPES / f"{hf_dir.replace('/', '--')}.json"
    for path in (cached, card):
        if isinstance(path, (str, Path)) and Path(path).is_file():
            return json.loads(Path(path).read_text())
    try:
        return json.loads(Path(huggingface_hub.hf_hub_download(hf_dir, HF_CONFIG)).read_text())
    except Exception as err:  # any hub failure means "cannot plan this name"
        raise UserError(
            f"config.init.hf_dir={hf_dir!r}: not a directory, not cached, no shape card {SHAPES.name}/{card.name}, "
            f"and the hub did not answer ({type(err).__name__})"
        ) from None


def table(report: dict) -> str:
    t, d = report["train"], report["decode"]
    m = report["model"]
    lines = [
        f"{report['config']} (PE {report['pe']}): {report['parameters'] / 1e9:.2f}B parameters, "
        f"{m['layers']} layers x {m['width']}, {m['dtype']}, remat={m['remat']}, scan_layers={m['scan_layers']}, "
        f"LoRA rank {m['lora_rank'] or 'none'}; {report['devices']} {report['platform']} device(s), mesh {report['mesh']}",
        "",
        f"{'per device (GB)':<22}{'args':>8}{'saved':>8}{'args+saved':>12}{'temp':>8}{'total':>8}{'compile s':>11}",
        f"{'train ' + str(t['micro_batch']) + ' x ' + str(t['seq']):<22}{t['args_gb']:>8.2f}{t['saved_activations_gb']:>8.2f}"
        f"{t['args_gb'] + t['saved_activations_gb']:>12.2f}{t['temp_gb']:>8.2f}{t['total_gb']:>8.2f}{t['compile_seconds']:>11.1f}",
        f"{'decode ' + str(d['batch']) + ' x ' + str(d['prompt_len']) + '+' + str(d['new_tokens']):<22}{d['args_gb']:>8.2f}"
        f"{'':>8}{'':>12}{d['temp_gb']:>8.2f}{d['total_gb']:>8.2f}{d['compile_seconds']:>11.1f}",
        "",
        f"training step: {t['model_flops'] / 1e12:.1f} model TFLOP (XLA counts {t['flops'] / 1e12:.1f}), batch {t['batch']} "
        f"in micro-batches of {t['micro_batch']}",
        f"CPU-only float32 copies of bfloat16 weights, at most: train {t['cpu_upcast_gb']:.2f} GB, decode "
        f"{d['cpu_upcast_gb']:.2f} GB (a GPU makes none: its total is about total - copies)",
        "largest saved activations: " + "; ".join(f"{s['what']} {s['gb']:.2f} GB" for s in t["largest_saved"][:3]),
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    from mathpe_jax import build, memory
    from mathpe_jax.config import validate
    from mathpe_jax.data.tokenizer import CharTokenizer
    from mathpe_jax.parallel.mesh import mesh_from_config

    config = CONFIG.value
    validate(config)
    hf_config = checkpoint_config(config.init.hf_dir) if config.init.hf_dir else None
    vocab = 0
    if hf_config is None:
        task = build.make_task(config)
        vocab = CharTokenizer(task.alphabet).vocab_size if task.kind == "synthetic" else config.task.vocab_size
    report = memory.plan(config, mesh_from_config(config.mesh), hf_config, vocab, FLAGS.prompt_len)
    print(json.dumps(report) if FLAGS.json else table(report))


if __name__ == "__main__":
    cli.run(main)
