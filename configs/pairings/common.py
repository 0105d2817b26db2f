"""The five-node design of the study: one PE paired with one pretrained 7B math model per node.

Every pairing is LoRA fine-tuning on GSM8K in bf16, sized for one 80 GB GPU: a 7B base in bf16 is
about 14 GB, rank-16 adapters on q/k/v/o and their AdamW state well under 1 GB. Activations of
8 x 1024-token micro-batches (gradient accumulation 4 for an effective batch of 32) fit because
each layer is rematerialised (only its input is kept, ~2 GB for the whole stack) and the layers
run as one scan. ``python tools/plan_memory.py --config=<pairing>`` prints the plan. Checkpoints
are named by hub id, for clusters that can reach the hub or mirror it.
"""

from ml_collections import ConfigDict

from configs import finetune_gsm8k


def pairing(name: str, hf_dir: str, pe: dict) -> ConfigDict:
    c = seven_b_lora(finetune_gsm8k.get_config())
    c.name = name
    c.init.hf_dir = hf_dir
    c.model.pe = ConfigDict(pe)
    return c


def seven_b_lora(c: ConfigDict) -> ConfigDict:
    """The budget of a 7B LoRA fine-tune on one 80 GB GPU, shared by the pairings and the
    controlled fine-tune preset so that both designs train the same adapters for as long."""
    c.model.dtype = "bfloat16"
    c.model.remat = "full"
    c.model.scan_layers = True
    c.model.attention_impl = "auto"  # cuDNN's fused kernel on a GPU
    c.task.max_len = 1024
    c.lora.rank = 16
    c.lora.alpha = 32.0
    c.train.steps = 2000
    c.train.batch_size = 32
    c.train.grad_accum = 4
    c.train.checkpoint_every = 200
    c.eval.limit = 0  # the whole GSM8K test set
    c.eval.batch_size = 32
    c.eval.max_new_tokens = 512
    return c
