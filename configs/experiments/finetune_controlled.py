"""GSM8K fine-tuning, controlled: one pretrained checkpoint, each PE swapped in, one LoRA budget.

Every arm starts from the same base (DeepSeekMath-7B, pretrained with RoPE) and trains the same
rank-16 adapters for the same steps; only ``model.pe`` differs. RoPE, the checkpoint's own PE, is
the control; every other arm also trains its PE's own parameters (if any) and starts from a model
that has never seen its PE, which is the question this design asks: how well does each PE adapt?
GPU size (bf16, one 80 GB GPU); ``finetune_controlled_cpu.py`` runs in minutes on a small model.
"""

from ml_collections import ConfigDict

from configs.experiments.common import PES, finetune

SWEEP = PES


def get_config(pe: str = "rope") -> ConfigDict:
    return finetune("finetune_controlled", pe, hf_dir="deepseek-ai/deepseek-math-7b-base", cpu=False)
