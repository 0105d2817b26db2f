"""What every experiment preset shares: the six PEs of the study and the two sizes of each study.

A preset file is a task and a size; ``with_pe`` takes ``model.pe`` from the PE's own config file
(``configs/<pe>.py``), so a sweep compares the PEs exactly as the single-run configs define them,
and names the run ``<preset>_<pe>``. The GPU size follows the literature's lengths; the CPU size
keeps the study's shape (the same stretch from training to test lengths) on the base model, so a
run finishes in minutes on one core.
"""

import importlib

from ml_collections import ConfigDict

from configs import base, finetune_gsm8k
from configs.pairings.common import seven_b_lora

# The six PEs of the study, in the order tables list them.
PES = ("sinusoidal", "rope", "alibi", "diet", "t5", "nope")
# The encodings that hold today's length-generalization records on arithmetic, with a learned
# absolute baseline (Kazemnejad et al.'s APE).
RECORD_PES = ("abacus", "fire", "learned")


def with_pe(config: ConfigDict, preset: str, pe: str) -> ConfigDict:
    """``config`` with the PE of ``configs/<pe>.py`` and the name ``<preset>_<pe>``; the name
    follows ``model.pe.name``, so ``--config.model.pe.name=rope`` also names the run ``<preset>_rope``."""
    if pe not in PES + RECORD_PES:
        raise ValueError(f"unknown PE {pe!r} for preset {preset}; choose one of {', '.join(PES + RECORD_PES)}")
    config.model.pe = importlib.import_module(f"configs.{pe}").get_config().model.pe
    config.name = f"{preset}_" + config.model.pe.get_ref("name")
    return config


def switchable_pe(config: ConfigDict, preset: str, pe: str, pes: tuple[str, ...]) -> ConfigDict:
    """``config`` running ``pe``, with the options of every PE in ``pes`` (from ``configs/<p>.py``)
    kept in ``model.pe_by_name``: ``--config.model.pe.name=P`` alone switches the run to P with
    P's own settings and names it ``<preset>_P``, nothing else changed."""
    if pe not in pes:
        raise ValueError(f"unknown PE {pe!r} for preset {preset}; choose one of {', '.join(pes)}")
    options = {}
    for name in pes:
        pe_config = importlib.import_module(f"configs.{name}").get_config().model.pe.to_dict()
        options[name] = {k: v for k, v in pe_config.items() if k != "name"}
    config.model.pe_by_name = ConfigDict(options)
    config.model.pe = ConfigDict({"name": pe})
    config.name = f"{preset}_" + config.model.pe.get_ref("name")
    return config


def record_arithmetic_model(config: ConfigDict) -> None:
    """The CPU model and budget of the record-seeking addition presets: width 128 with an MLP of
    512, trained longer (4000 steps of 64). Why: docs/results/addition_record_cpu.md"""
    config.model.width = 128
    config.model.mlp_dim = 512
    config.train.steps = 4000
    config.train.batch_size = 64
    config.train.warmup_steps = 100
    config.train.checkpoint_every = 500


def lengths(first: int, last: int, step: int = 1) -> tuple[int, ...]:
    """The inclusive range ``first..last`` in steps of ``step``, as a config tuple."""
    return tuple(range(first, last + 1, step))


def gpu_model(config: ConfigDict) -> None:
    """The GPU presets' model: 6 layers of width 256 (Kazemnejad et al.'s scale), a larger batch."""
    config.model.width = 256
    config.model.num_layers = 6
    config.model.num_heads = 8
    config.model.num_kv_heads = 8
    config.model.mlp_dim = 1024
    config.train.batch_size = 128
    config.train.warmup_steps = 500
    config.train.log_every = 200
    config.train.checkpoint_every = 1000
    config.eval.examples_per_length = 500


def string_task(task: str, pe: str, cpu: bool) -> ConfigDict:
    """Copy or reverse a digit string (Kazemnejad et al. 2023).

    GPU: train on 1-20 characters, test 21-40, as the paper. CPU: train 1-10, test 11-20 (the same
    2x stretch), 800 steps.
    """
    c = base.get_config()
    c.task.name = task
    if cpu:
        c.task.train_lengths = (1, 10)
        c.task.test_lengths = lengths(11, 20)
        c.model.max_len = 48  # BOS + 20 + separator + 20 + EOS
        c.train.steps = 800
        c.train.warmup_steps = 50
        c.train.log_every = 50
        c.train.checkpoint_every = 200
        c.eval.examples_per_length = 100
    else:
        gpu_model(c)
        c.task.train_lengths = (1, 20)
        c.task.test_lengths = lengths(21, 40)
        c.model.max_len = 96
        c.train.steps = 10000
    return with_pe(c, f"{task}_cpu" if cpu else task, pe)


def arithmetic_task(task: str, pe: str, cpu: bool) -> ConfigDict:
    """Addition or multiplication, numbers least significant digit first.

    GPU: operands of unequal lengths in training and an operand-length grid in evaluation
    (McLeish et al. 2024); addition trains on 1-20 digits and tests 21-40, 50 and 60,
    multiplication (harder per digit) trains on 1-10 and tests 11-20.
    CPU: operands of equal length, 1-10 digits for addition (tested to 20), 1-4 for
    multiplication (tested to 8); 800 steps of 32, what a core does in about four minutes. Equal
    operands keep the one length axis the study is about; ``--config.task.unequal_operands=True``
    adds the grid at about twice the evaluation time. What this budget learns:
    docs/results/addition_cpu.md.
    """
    c = base.get_config()
    c.task.name = task
    c.task.reverse = True
    short = task == "multiplication"
    if cpu:
        last = 4 if short else 10
        c.task.train_lengths = (1, last)
        c.task.test_lengths = lengths(last + 1, 2 * last)
        c.model.max_len = 8 * last + 8  # BOS, two operands, answer, separators, EOS
        c.train.steps = 800
        c.train.batch_size = 32
        c.train.warmup_steps = 50
        c.train.log_every = 100
        c.train.checkpoint_every = 400
        c.eval.examples_per_length = 100
        c.eval.grid_examples = 10
    else:
        gpu_model(c)
        c.task.unequal_operands = True
        last = 10 if short else 20
        c.task.train_lengths = (1, last)
        c.task.test_lengths = lengths(last + 1, 2 * last) + (() if short else (50, 60))
        c.model.max_len = 4 * (30 if short else 60) + 8
        c.train.steps = 20000
    return with_pe(c, f"{task}_cpu" if cpu else task, pe)


def finetune(preset: str, pe: str, hf_dir: str, cpu: bool) -> ConfigDict:
    """LoRA fine-tuning of ``hf_dir`` on GSM8K under ``pe``, the same adapters and budget for every
    PE. ``configs/<pe>.py``'s settings replace the checkpoint's PE, except for RoPE, which keeps
    the checkpoint's own rotary settings (base, scaling) so that the control is the model as
    pretrained."""
    c = finetune_gsm8k.get_config()
    c.init.hf_dir = hf_dir
    if cpu:
        c.lora.rank = 16
        c.lora.alpha = 32.0
        c.task.max_len = 384
        c.task.train_limit = 400
        c.train.steps = 60
        c.train.batch_size = 4
        c.train.log_every = 5
        c.train.checkpoint_every = 20
        c.eval.limit = 50
        c.eval.batch_size = 10
        c.eval.max_new_tokens = 192
    else:
        seven_b_lora(c)
    with_pe(c, preset, pe)
    if pe == "rope":
        c.model.pe = ConfigDict({"name": "rope"})
    return c
