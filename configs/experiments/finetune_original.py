"""GSM8K fine-tuning as the original design ran it: five PEs, each on a different 7B checkpoint.

Each arm is one of ``configs/pairings/``. The checkpoints differ in architecture, pretraining data
and math tuning, and all were pretrained with RoPE, so a difference between arms cannot be
attributed to the PE: every result carries that caveat. For the PE question use
``finetune_controlled.py``. There is no CPU size: the design is its five 7B checkpoints.
"""

import importlib

from ml_collections import ConfigDict

PAIRINGS = {
    "sinusoidal": "node0_sinusoidal_deepseekmath",
    "rope": "node1_rope_internlm2_math",
    "alibi": "node2_alibi_mistral",
    "diet": "node3_diet_dotamath",
    "t5": "node4_t5_llama2",
}
SWEEP = tuple(PAIRINGS)
CAVEAT = (
    "original design: each PE sits on a different pretrained 7B checkpoint (all pretrained with RoPE), "
    "so differences between arms are confounded by base model and cannot be attributed to the PE"
)


def get_config(pe: str = "rope") -> ConfigDict:
    if pe not in PAIRINGS:
        raise ValueError(f"unknown PE {pe!r} for the original design; choose one of {', '.join(PAIRINGS)}")
    c = importlib.import_module(f"configs.pairings.{PAIRINGS[pe]}").get_config()
    c.caveat = CAVEAT
    return c
