"""Copy swept over the six PEs, GPU size; ``copy_cpu.py`` is the laptop size; see ``common.string_task``."""

from ml_collections import ConfigDict

from configs.experiments.common import PES, string_task

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return string_task("copy", pe, cpu=False)
