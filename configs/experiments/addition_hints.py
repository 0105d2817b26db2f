"""Reversed addition with index hints and randomized positions (Zhou et al. 2024) at GPU size:
unequal operands of 1-20 digits, tested to 50 (hints name 52 places); ``addition_hints_cpu.py``
is the laptop size."""

from ml_collections import ConfigDict

from configs.experiments.common import arithmetic_task, lengths, switchable_pe

SWEEP = ("fire", "rope", "nope", "alibi", "learned")


def get_config(pe: str = "fire") -> ConfigDict:
    c = arithmetic_task("addition", SWEEP[0], cpu=False)
    c.task.index_hints = True
    c.task.test_lengths = lengths(21, 40) + (45, 50)
    c.train.positions = "randomized"
    c.model.max_len = 1024  # positions drawn from 0..1023; a hinted 50-digit sum takes 306 tokens
    switchable_pe(c, "addition_hints", pe, SWEEP)
    c.model.pe_by_name.fire.init_threshold = 128.0
    return c
