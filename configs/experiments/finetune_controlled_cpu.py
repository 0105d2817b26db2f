"""The controlled GSM8K fine-tune on a laptop: Qwen2.5-0.5B (or any small checkpoint given with
``--config.init.hf_dir``) under each PE, 60 LoRA steps on 400 training problems, 50 test problems."""

from ml_collections import ConfigDict

from configs.experiments.common import PES, finetune

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return finetune("finetune_controlled_cpu", pe, hf_dir="Qwen/Qwen2.5-0.5B", cpu=True)
