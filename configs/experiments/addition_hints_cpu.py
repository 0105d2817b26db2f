"""Reversed addition with index hints and randomized positions (Zhou et al. 2024: with FIRE these
reached 2.5x length generalization), 1-10 digits tested to 20; ``addition_hints.py`` is the GPU
size. Every arm trains on the same hinted data with the same randomized positions, so the study
asks which PE makes use of them."""

from ml_collections import ConfigDict

from configs.experiments.common import arithmetic_task, record_arithmetic_model, switchable_pe

SWEEP = ("fire", "rope", "nope", "alibi", "learned")


def get_config(pe: str = "fire") -> ConfigDict:
    c = arithmetic_task("addition", SWEEP[0], cpu=True)
    c.task.index_hints = True
    c.train.positions = "randomized"
    c.model.max_len = 256  # the range positions are drawn from; hinted 20-digit sums take 126 tokens
    record_arithmetic_model(c)
    switchable_pe(c, "addition_hints_cpu", pe, SWEEP)
    c.model.pe_by_name.fire.init_threshold = 64.0
    return c
