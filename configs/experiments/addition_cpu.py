"""Addition swept over the six PEs, laptop size of ``addition.py``; see ``common.arithmetic_task``.
Results: docs/results/addition_cpu.md"""

from ml_collections import ConfigDict

from configs.experiments.common import PES, arithmetic_task

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return arithmetic_task("addition", pe, cpu=True)
