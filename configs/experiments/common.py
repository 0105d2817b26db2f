"""What every experiment preset shares: the six PEs of the study and the two sizes of each study.

A preset file is a task and a size; ``with_pe`` takes ``model.pe`` from the PE's own config file
(``configs/<pe>.py``), so a sweep compares the PEs exactly as the single-run configs define them,
and names the run ``<preset>_<pe>``. The GPU size follows the literature's lengths; the CPU size
keeps the study's shape (the same stretch from training to test lengths) on the base model, so a
run finishes in minutes on one core.
"""

import importlib

from ml_collections import ConfigDict

from configs import base

# The six PEs of the study, in the order tables list them.
PES = ("sinusoidal", "rope", "alibi", "diet", "t5", "nope")


def with_pe(config: ConfigDict, preset: str, pe: str) -> ConfigDict:
    """``config`` with the PE of ``configs/<pe>.py`` and the name ``<preset>_<pe>``."""
    if pe not in PES:
        raise ValueError(f"unknown PE {pe!r} for preset {preset}; choose one of {', '.join(PES)}")
    config.model.pe = importlib.import_module(f"configs.{pe}").get_config().model.pe
    config.name = f"{preset}_{pe}"
    return config


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
    """Addition or multiplication, numbers least significant digit first, operands of unequal
    lengths in training and an operand-length grid in evaluation (McLeish et al. 2024).

    Addition, GPU: train 1-20 digits, test 21-40 and 50, 60; CPU: train 1-10, test 11-20, 1,200 steps of 32.
    Multiplication is harder per digit, so its ranges are shorter: GPU 1-10 / 11-20; CPU 1-4 / 5-8.
    """
    c = base.get_config()
    c.task.name = task
    c.task.reverse = True
    c.task.unequal_operands = True
    short = task == "multiplication"
    if cpu:
        last = 4 if short else 10
        c.task.train_lengths = (1, last)
        c.task.test_lengths = lengths(last + 1, 2 * last)
        c.model.max_len = 8 * last + 8  # BOS, two operands, answer, separators, EOS
        c.train.steps = 1200
        c.train.batch_size = 32
        c.train.warmup_steps = 50
        c.train.log_every = 100
        c.train.checkpoint_every = 400
        c.eval.examples_per_length = 100
        c.eval.grid_examples = 10
    else:
        gpu_model(c)
        last = 10 if short else 20
        c.task.train_lengths = (1, last)
        c.task.test_lengths = lengths(last + 1, 2 * last) + (() if short else (50, 60))
        c.model.max_len = 4 * (30 if short else 60) + 8
        c.train.steps = 20000
    return with_pe(c, f"{task}_cpu" if cpu else task, pe)
