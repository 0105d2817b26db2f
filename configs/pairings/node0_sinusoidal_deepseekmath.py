"""Node 0: sinusoidal PE on DeepSeekMath-7B (a Llama architecture)."""

from ml_collections import ConfigDict

from configs.pairings.common import pairing


def get_config() -> ConfigDict:
    return pairing("node0_sinusoidal_deepseekmath", "deepseek-ai/deepseek-math-7b-base", {"name": "sinusoidal", "base": 10000.0})
