"""Node 3: DIET-ABS on DotaMath-DeepSeek-7B."""

from ml_collections import ConfigDict

from configs.pairings.common import pairing


def get_config() -> ConfigDict:
    return pairing("node3_diet_dotamath", "dongguanting/DotaMath-deepseek-7B", {"name": "diet", "variant": "abs", "rank": 64, "max_len": 1024})
