"""LoRA fine-tuning of a pretrained checkpoint on GSM8K, then graded evaluation on its test set.

    python -m mathpe_jax.main --config=configs/finetune_gsm8k.py --config.init.hf_dir=PATH_OR_HUB_ID \
        [--config.lora.rank=8] [--config.model.pe.name=alibi]

The model's size and PE come from the checkpoint; ``model.pe.name`` may swap the PE (its own
parameters then train with the adapters, and a warning says the base was pretrained with another).
The defaults suit a small model on a CPU; ``configs/pairings/`` holds 7B settings for one GPU.
"""

from ml_collections import ConfigDict

from configs import base


def get_config() -> ConfigDict:
    c = base.get_config()
    c.name = "finetune_gsm8k"
    c.init.hf_dir = ""  # required: a Hugging Face model directory or hub id
    c.model.pe = ConfigDict({"name": "rope"})  # rope keeps the checkpoint's own rotary settings
    c.task.name = "gsm8k"
    c.task.template = "cot"
    c.task.max_len = 512
    c.task.train_limit = 0
    c.lora.rank = 8
    c.lora.alpha = 16.0
    c.train.steps = 500
    c.train.batch_size = 8
    c.train.learning_rate = 2e-4
    c.train.warmup_steps = 20
    c.train.weight_decay = 0.0
    c.train.log_every = 10
    c.train.checkpoint_every = 100
    c.eval.limit = 200
    c.eval.batch_size = 16
    c.eval.max_new_tokens = 256
    return c
