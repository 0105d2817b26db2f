"""Node 2: ALiBi on the Mistral-7B base that Orca-Math-7B was fine-tuned from (Orca-Math's own weights are not on the hub; point init.hf_dir at them where you have them)."""

from ml_collections import ConfigDict

from configs.pairings.common import pairing


def get_config() -> ConfigDict:
    return pairing("node2_alibi_mistral", "mistralai/Mistral-7B-v0.1", {"name": "alibi"})
