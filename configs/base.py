"""Defaults shared by every run; each PE file changes only ``model.pe``.

All six PE configs share this model size, task and training budget, so they differ in the
positional encoding alone. Override any field on the command line, e.g. ``--config.train.steps=200``.
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.name = "base"
    c.seed = 0

    c.model = ConfigDict()
    c.model.width = 128
    c.model.num_layers = 4
    c.model.num_heads = 4
    c.model.num_kv_heads = 4
    c.model.head_dim = 0  # 0: width // num_heads
    c.model.mlp_dim = 512
    c.model.max_len = 128  # longest position the PEs are sized for (DIET-ABS table)
    c.model.norm_eps = 1e-6
    c.model.tie_embeddings = False
    c.model.qkv_bias = False
    c.model.dtype = "float32"  # "bfloat16": bf16 compute, float32 params
    c.model.param_dtype = "float32"
    c.model.attention_impl = "xla"
    c.model.pe = ConfigDict({"name": "rope"})

    c.task = ConfigDict()
    c.task.name = "addition"
    c.task.reverse = True
    c.task.train_lengths = (1, 5)  # inclusive range
    c.task.test_lengths = (6, 7, 8)  # out of distribution
    c.task.bos = True

    c.train = ConfigDict()
    c.train.steps = 2000
    c.train.batch_size = 64
    c.train.grad_accum = 1
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 100
    c.train.end_lr_ratio = 0.1
    c.train.weight_decay = 0.01
    c.train.clip_norm = 1.0
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.keep_checkpoints = 3

    c.eval = ConfigDict()
    c.eval.examples_per_length = 256
    c.eval.batch_size = 256

    c.mesh = ConfigDict()
    c.mesh.data = -1  # -1: all devices not used by the other axes
    c.mesh.fsdp = 1
    c.mesh.tensor = 1
    return c
