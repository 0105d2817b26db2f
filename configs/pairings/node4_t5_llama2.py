"""Node 4: T5 relative bias on a Llama-2-7B base (the original design paired T5 with MindStar, an inference-time search method, not a checkpoint)."""

from ml_collections import ConfigDict

from configs.pairings.common import pairing


def get_config() -> ConfigDict:
    return pairing("node4_t5_llama2", "meta-llama/Llama-2-7b-hf", {"name": "t5", "num_buckets": 32, "max_distance": 128})
