"""Reversed addition with Abacus at the paper's scale (McLeish et al. 2024): operands of 1-20 digits,
tested to 100, offsets up to 100; the GPU size of ``addition_record_cpu.py``, default arm Abacus,
``--config.model.pe.name=P`` switches to another arm. Results: docs/results/addition_record_cpu.md"""

from ml_collections import ConfigDict

from configs.experiments.common import arithmetic_task, lengths, switchable_pe

SWEEP = ("abacus", "abacus_place", "place_bias", "abacus_fire", "fire", "learned", "rope", "nope")


def get_config(pe: str = "abacus") -> ConfigDict:
    c = arithmetic_task("addition", SWEEP[0], cpu=False)
    c.task.test_lengths = lengths(21, 40) + lengths(50, 100, 10)
    c.model.max_len = 4 * 100 + 8  # BOS, two 100-digit operands, separators, a 101-digit sum, EOS
    c.eval.examples_per_length = 100
    c.eval.grid_examples = 8
    switchable_pe(c, "addition_record", pe, SWEEP)
    c.model.pe_by_name.abacus.max_offset = 100
    c.model.pe_by_name.fire.init_threshold = 64.0
    c.model.pe_by_name.abacus_fire.update(max_offset=100, init_threshold=64.0)
    c.model.pe_by_name.abacus_place.update(max_offset=100, beyond="masked")
    return c
