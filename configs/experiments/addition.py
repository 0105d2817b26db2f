"""Addition swept over the six PEs, GPU size; ``addition_cpu.py`` is the laptop size; see ``common.arithmetic_task``."""

from ml_collections import ConfigDict

from configs.experiments.common import PES, arithmetic_task

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return arithmetic_task("addition", pe, cpu=False)
