"""Node 1: RoPE (the checkpoint's own) on InternLM2-Math-7B."""

from ml_collections import ConfigDict

from configs.pairings.common import pairing


def get_config() -> ConfigDict:
    return pairing("node1_rope_internlm2_math", "internlm/internlm2-math-base-7b", {"name": "rope"})
