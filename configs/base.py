"""Defaults shared by every run; each PE file changes only ``model.pe``.

Every PE config (``configs/<pe>.py``) shares this model size, task and training budget, so they
differ in the positional encoding alone; docs/configs.md says what each key means. Override any field on the command line, e.g. ``--config.train.steps=200``.
"""

from ml_collections import ConfigDict, config_dict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.name = "base"
    c.seed = 0
    # A warning that every output of the run carries (results.json, the comparison report), e.g.
    # that the arms of a study differ in more than their PE.
    c.caveat = ""

    c.model = ConfigDict()
    c.model.width = 128
    c.model.num_layers = 4
    c.model.num_heads = 4
    c.model.num_kv_heads = 4
    c.model.head_dim = 0  # 0: width // num_heads
    c.model.mlp_dim = 256
    c.model.max_len = 128  # longest position the PEs are sized for (DIET-ABS table)
    c.model.norm_eps = 1e-6
    c.model.tie_embeddings = False
    c.model.qkv_bias = False
    c.model.dtype = "float32"  # "bfloat16": bf16 compute, float32 params
    c.model.param_dtype = "float32"
    c.model.attention_impl = "xla"  # "xla", "cudnn" (GPU) or "auto" (cudnn on a GPU, else xla)
    c.model.remat = "none"  # what backprop keeps per layer: "none" (all), "dots" (matmul outputs), "full" (input)
    c.model.scan_layers = False  # True: one lax.scan over stacked layers (compile time flat in depth)
    c.model.sliding_window = 0  # > 0: a query sees keys fewer than this many positions back
    c.model.pe = ConfigDict({"name": "rope"})
    # Options per PE name, used when that PE is chosen (under model.pe's own): a config that sets
    # them switches PE with --config.model.pe.name alone, e.g. {"abacus": {"max_offset": 20}}.
    c.model.pe_by_name = ConfigDict()

    c.task = ConfigDict()
    c.task.name = "addition"
    # Unset: addition and multiplication write numbers least-significant digit first; True/False
    # chooses. copy and reverse refuse the key (the reversed string is task.name=reverse).
    c.task.reverse = config_dict.placeholder(bool)
    c.task.train_lengths = (1, 5)  # inclusive range
    c.task.test_lengths = (6, 7, 8)  # out of distribution
    # Fixes the test problems apart from c.seed, so runs with different seeds face the same ones.
    c.task.test_seed = 0
    # addition/multiplication: draw the two operand lengths independently in training, and
    # evaluate a grid over (first, second) operand length.
    c.task.unequal_operands = False
    # addition/multiplication: how numbers are written (mathpe_jax/data/tasks/formats.py). Index
    # hints put a letter naming its place before every digit (Zhou et al. 2024), zero padding
    # writes operands to equal widths and answers to their largest, and random spaces put a space
    # in each gap of a training prompt with this probability (Shen et al. 2023; tests never);
    # spaces_around_numbers puts 0..N spaces before and after each number of a training prompt
    # (never inside one, so Abacus's places stay), moving later tokens to longer problems' positions.
    c.task.index_hints = False
    c.task.zero_pad = False
    c.task.random_spaces = 0.0
    c.task.spaces_around_numbers = 0
    c.task.bos = True
    # Text datasets (task.name "gsm8k" or "math") only:
    c.task.source = ""  # directory holding <name>/<split>.jsonl, or a hub id; "" = ../shared/data
    c.task.template = "cot"  # prompt template: cot | plain | none | chat (the tokenizer's chat template)
    c.task.max_len = 512  # longest training sequence in tokens; longer examples are dropped
    c.task.train_limit = 0  # 0 = every training problem
    # A batch is as long as its longest example rounded up to this many tokens: a coarser quantum
    # pads more but compiles the train step for fewer distinct lengths (task.max_len: one length).
    c.task.length_quantum = 32
    c.task.vocab_size = 2000  # SentencePiece vocabulary trained for from-scratch text runs

    # Start from a pretrained checkpoint instead of random weights.
    c.init = ConfigDict()
    c.init.hf_dir = ""  # Hugging Face model directory or hub id ("" = train from scratch)

    c.lora = ConfigDict()
    c.lora.rank = 0  # 0 = no LoRA (all parameters train)
    c.lora.alpha = 16.0
    c.lora.dropout = 0.0
    c.lora.target_modules = r".*attn\.(q|k|v|o)_proj"
    c.lora.train_pe = True  # the PE's own parameters (if any) train with the adapters

    c.train = ConfigDict()
    c.train.steps = 2500
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
    # "sequential" (0, 1, 2, ...) or "randomized" (Ruoss et al. 2023): each training row's positions
    # are a sorted random sample of 0..model.max_len-1; evaluation and decoding stay sequential.
    c.train.positions = "sequential"

    c.eval = ConfigDict()
    c.eval.examples_per_length = 256
    c.eval.grid_examples = 32  # problems per operand-grid cell (task.unequal_operands only)
    c.eval.batch_size = 256
    c.eval.limit = 0  # text datasets: evaluate the first N test problems (0 = all)
    c.eval.max_new_tokens = 256  # text datasets: generation budget per problem
    # --mode=eval: the checkpoint step to evaluate (0 = the step training ended with).
    c.eval.step = 0

    c.mesh = ConfigDict()
    c.mesh.data = -1  # -1: all devices not used by the other axes
    c.mesh.fsdp = 1
    c.mesh.tensor = 1
    return c
