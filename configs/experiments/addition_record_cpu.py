"""Reversed addition on operands of unequal lengths, 1-10 digits, tested to 20, on the CPU record
model; arm ``abacus_place`` (far digits hidden) unless ``--config.model.pe.name=P`` names another of
``SWEEP``; ``addition_record.py`` is the GPU size. Results: docs/results/addition_record_cpu.md"""

from ml_collections import ConfigDict

from configs.experiments.common import arithmetic_task, record_arithmetic_model, switchable_pe

SWEEP = ("abacus", "abacus_place", "place_bias", "abacus_fire", "fire", "learned", "rope", "nope")


def get_config(pe: str = "abacus_place") -> ConfigDict:
    c = arithmetic_task("addition", SWEEP[0], cpu=True)
    record_arithmetic_model(c)
    c.task.unequal_operands = True
    c.eval.grid_examples = 1  # the operand grid has 400 cells: one problem each keeps evaluation short
    switchable_pe(c, "addition_record_cpu", pe, SWEEP)
    c.model.pe_by_name.abacus.max_offset = 10  # places up to 21 trained: a 20-digit sum has 21 digits
    c.model.pe_by_name.abacus.offset_per = "example"
    c.model.pe_by_name.fire.init_threshold = 32.0  # L near the training sequences (up to 36 tokens)
    c.model.pe_by_name.abacus_fire.update(c.model.pe_by_name.abacus, init_threshold=32.0)
    c.model.pe_by_name.abacus_place.update(c.model.pe_by_name.abacus)
    c.model.pe_by_name.abacus_place.beyond = "masked"
    return c
