"""Tensor name maps between Hugging Face checkpoints and our ``Decoder``, one entry per model_type.

A ``TensorMap`` ties one Hugging Face tensor to the variable(s) of ours it holds and carries the two
layout changes: Hugging Face stores a linear weight as ``[out, in]`` and our kernels are ``[in, out]``;
InternLM2 fuses q, k and v into one ``wqkv`` that becomes three kernels here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.model.config import ModelConfig

Path = tuple[str | int, ...]  # a variable's path in nnx.to_flat_state


@dataclasses.dataclass(frozen=True)
class TensorMap:
    """One Hugging Face tensor ``hf_name`` of shape ``hf_shape`` <-> our variables at ``paths``."""

    hf_name: str
    hf_shape: tuple[int, ...]
    paths: tuple[Path, ...]
    to_ours: Callable[[np.ndarray], tuple[np.ndarray, ...]]
    to_hf: Callable[..., np.ndarray]

    @property
    def layer(self) -> int | None:
        """The decoder layer the tensor belongs to; None for the embedding, final norm and head."""
        kind, index = self.paths[0][:2]
        return index if kind == "layers" and isinstance(index, int) else None


def _copy(hf_name: str, path: Path, shape: tuple[int, ...]) -> TensorMap:
    return TensorMap(hf_name, shape, (path,), lambda t: (t,), lambda a: a)


def _linear(hf_module: str, module: Path, d_in: int, d_out: int, bias: bool = False) -> list[TensorMap]:
    """A Hugging Face ``nn.Linear`` (weight ``[out, in]``) <-> our ``nnx.Linear`` (kernel ``[in, out]``)."""
    maps = [TensorMap(f"{hf_module}.weight", (d_out, d_in), (module + ("kernel",),), lambda t: (t.T,), lambda a: a.T)]
    if bias:
        maps.append(_copy(f"{hf_module}.bias", module + ("bias",), (d_out,)))
    return maps


def _head(cfg: ModelConfig, hf_name: str) -> list[TensorMap]:
    return [] if cfg.tie_embeddings else _linear(hf_name, ("lm_head",), cfg.width, cfg.vocab_size)


def llama_maps(cfg: ModelConfig) -> Iterator[TensorMap]:
    """Llama, Mistral and Qwen2 share one layout (Qwen2 adds q/k/v biases)."""
    q_width, kv_width = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    yield _copy("model.embed_tokens.weight", ("embed", "embedding"), (cfg.vocab_size, cfg.width))
    for i in range(cfg.num_layers):
        hf, ours = f"model.layers.{i}", ("layers", i)
        yield from _linear(f"{hf}.self_attn.q_proj", ours + ("attn", "q_proj"), cfg.width, q_width, cfg.qkv_bias)
        yield from _linear(f"{hf}.self_attn.k_proj", ours + ("attn", "k_proj"), cfg.width, kv_width, cfg.qkv_bias)
        yield from _linear(f"{hf}.self_attn.v_proj", ours + ("attn", "v_proj"), cfg.width, kv_width, cfg.qkv_bias)
        yield from _linear(f"{hf}.self_attn.o_proj", ours + ("attn", "o_proj"), q_width, cfg.width)
        yield from _linear(f"{hf}.mlp.gate_proj", ours + ("mlp", "gate_proj"), cfg.width, cfg.mlp_dim)
        yield from _linear(f"{hf}.mlp.up_proj", ours + ("mlp", "up_proj"), cfg.width, cfg.mlp_dim)
        yield from _linear(f"{hf}.mlp.down_proj", ours + ("mlp", "down_proj"), cfg.mlp_dim, cfg.width)
        yield _copy(f"{hf}.input_layernorm.weight", ours + ("attn_norm", "scale"), (cfg.width,))
        yield _copy(f"{hf}.post_attention_layernorm.weight", ours + ("mlp_norm", "scale"), (cfg.width,))
    yield _copy("model.norm.weight", ("final_norm", "scale"), (cfg.width,))
    yield from _head(cfg, "lm_head")


def _wqkv(cfg: ModelConfig, hf_name: str, attn: Path) -> TensorMap:
    """InternLM2's fused projection: rows grouped per kv head as [its G query heads, k head, v head]."""
    kv, d, width = cfg.num_kv_heads, cfg.head_dim, cfg.width
    groups = cfg.num_heads // kv

    def to_ours(t: np.ndarray) -> tuple[np.ndarray, ...]:
        t = t.reshape(kv, groups + 2, d, width)
        q = t[:, :groups].reshape(kv * groups * d, width)
        return q.T, t[:, groups].reshape(kv * d, width).T, t[:, groups + 1].reshape(kv * d, width).T

    def to_hf(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        parts = (q.T.reshape(kv, groups, d, width), k.T.reshape(kv, 1, d, width), v.T.reshape(kv, 1, d, width))
        return np.concatenate(parts, axis=1).reshape(kv * (groups + 2) * d, width)

    paths = tuple(attn + (name, "kernel") for name in ("q_proj", "k_proj", "v_proj"))
    return TensorMap(hf_name, (kv * (groups + 2) * d, width), paths, to_ours, to_hf)


def internlm2_maps(cfg: ModelConfig) -> Iterator[TensorMap]:
    q_width = cfg.num_heads * cfg.head_dim
    yield _copy("model.tok_embeddings.weight", ("embed", "embedding"), (cfg.vocab_size, cfg.width))
    for i in range(cfg.num_layers):
        hf, ours = f"model.layers.{i}", ("layers", i)
        yield _wqkv(cfg, f"{hf}.attention.wqkv.weight", ours + ("attn",))
        yield from _linear(f"{hf}.attention.wo", ours + ("attn", "o_proj"), q_width, cfg.width)
        yield from _linear(f"{hf}.feed_forward.w1", ours + ("mlp", "gate_proj"), cfg.width, cfg.mlp_dim)
        yield from _linear(f"{hf}.feed_forward.w3", ours + ("mlp", "up_proj"), cfg.width, cfg.mlp_dim)
        yield from _linear(f"{hf}.feed_forward.w2", ours + ("mlp", "down_proj"), cfg.mlp_dim, cfg.width)
        yield _copy(f"{hf}.attention_norm.weight", ours + ("attn_norm", "scale"), (cfg.width,))
        yield _copy(f"{hf}.ffn_norm.weight", ours + ("mlp_norm", "scale"), (cfg.width,))
    yield _copy("model.norm.weight", ("final_norm", "scale"), (cfg.width,))
    yield from _head(cfg, "output")


def _llama_bias(hf: Mapping[str, Any]) -> bool:
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            raise ConversionError(f"llama {key}=True is not supported (only q/k/v biases exist here)")
    return False


def _internlm2_bias(hf: Mapping[str, Any]) -> bool:
    if hf.get("bias"):
        raise ConversionError("internlm2 bias=True is not supported (it biases wo, which has no bias here)")
    return False


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What one Hugging Face ``model_type`` needs: its class, tensor names and bias convention."""

    model_type: str
    class_name: str  # the ``architectures`` entry of config.json
    tensor_maps: Callable[[ModelConfig], Iterator[TensorMap]]  # in file order, one layer after another
    qkv_bias: Callable[[Mapping[str, Any]], bool]  # from the HF config; raises on unsupported biases
    head_name: str  # the output projection's weight, absent or ignored when embeddings are tied


ARCHITECTURES = {
    "llama": Architecture("llama", "LlamaForCausalLM", llama_maps, _llama_bias, "lm_head.weight"),
    "mistral": Architecture("mistral", "MistralForCausalLM", llama_maps, lambda hf: False, "lm_head.weight"),
    "qwen2": Architecture("qwen2", "Qwen2ForCausalLM", llama_maps, lambda hf: True, "lm_head.weight"),
    "internlm2": Architecture("internlm2", "InternLM2ForCausalLM", internlm2_maps, _internlm2_bias, "output.weight"),
}


def architecture(model_type: str) -> Architecture:
    """The entry for ``model_type``; a one-line ConversionError for an unsupported one."""
    if model_type not in ARCHITECTURES:
        raise ConversionError(f"unsupported model_type={model_type!r}; supported: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[model_type]


def linear_modules(arch: Architecture, cfg: ModelConfig) -> dict[str, str]:
    """Our module path (``layers.0.attn.q_proj``) -> the Hugging Face module of the same linear layer.

    Only one-to-one layers appear; a fused Hugging Face layer (InternLM2's ``wqkv``) has no single
    counterpart here.
    """
    return {
        ".".join(map(str, m.paths[0][:-1])): m.hf_name.removesuffix(".weight")
        for m in arch.tensor_maps(cfg)
        if len(m.paths) == 1 and m.paths[0][-1] == "kernel"
    }
