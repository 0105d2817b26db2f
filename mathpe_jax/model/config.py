"""The typed model description, built from the run config or from a Hugging Face config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp

from mathpe_jax.pe import PEDims, chosen_pe

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything the decoder's shape and numerics depend on."""

    vocab_size: int
    width: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    mlp_dim: int
    head_dim: int = 0  # 0: width // num_heads
    max_len: int = 2048
    norm_eps: float = 1e-6
    tie_embeddings: bool = False
    qkv_bias: bool = False
    pe_name: str = "rope"
    pe_options: tuple[tuple[str, Any], ...] = ()
    dtype: str = "float32"  # compute dtype of activations
    param_dtype: str = "float32"
    # "xla" (this project's blocked attention; probabilities capturable), "cudnn" (the fused kernel
    # of jax.nn.dot_product_attention, GPU only) or "auto" (cudnn on a GPU, xla elsewhere).
    attention_impl: str = "xla"
    sliding_window: int = 0  # > 0: a query sees keys fewer than this many positions back (Mistral)
    # What the backward pass keeps of each layer: "none" (everything autodiff saves), "dots" (the
    # outputs of the weight matmuls; the rest is recomputed) or "full" (only the layer's input).
    remat: str = "none"
    # Run the layer stack as one lax.scan over stacked weights: compile time stays flat in depth.
    scan_layers: bool = False
    # The tokenizer's digit tokens, for PEs that read each digit's place (``token_inputs``).
    digit_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if not self.head_dim:
            object.__setattr__(self, "head_dim", self.width // self.num_heads)

    @property
    def pe_dims(self) -> PEDims:
        return PEDims(self.width, self.num_heads, self.head_dim, self.num_layers, self.max_len)

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    @property
    def weight_dtype(self):
        return DTYPES[self.param_dtype]

    @classmethod
    def from_config(cls, model: Mapping[str, Any], vocab_size: int, digit_ids: tuple[int, ...] = ()) -> "ModelConfig":
        """From the ``model`` section of a run config (an ml_collections ConfigDict or a dict) and
        what the tokenizer decides: its vocabulary size and its digit tokens."""
        pe_name, options = chosen_pe(model)
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in dict(model).items() if k in fields}
        return cls(
            vocab_size=vocab_size,
            pe_name=pe_name,
            pe_options=tuple(sorted(options.items())),
            digit_ids=tuple(digit_ids),
            **kwargs,
        )

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)
