"""Reverse swept over the six PEs, laptop size of ``reverse.py`` (minutes per run on one core); see ``common.string_task``."""

from ml_collections import ConfigDict

from configs.experiments.common import PES, string_task

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return string_task("reverse", pe, cpu=True)
