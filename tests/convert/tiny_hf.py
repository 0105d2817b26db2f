"""Tiny random Hugging Face models built locally (nothing is downloaded) and greedy loops on both sides."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config

from mathpe_jax.convert.safetensors_io import SafetensorsReader
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.model.transformer import Decoder

# Tiny matrices gain nothing from threads, and a busy machine makes torch's threads spin for ages.
torch.set_num_threads(1)

SIZES = {
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
# One variant per architecture: Qwen2 with tied embeddings (as its small sizes ship), Mistral without
# a sliding window (full attention, as here).
CONFIGS = {
    "llama": (LlamaConfig, {}),
    "mistral": (MistralConfig, {"sliding_window": None}),
    "qwen2": (Qwen2Config, {"tie_word_embeddings": True}),
}


def tiny_hf_model(model_type: str, seed: int = 0, **overrides) -> torch.nn.Module:
    """Every parameter random, norms and biases included, so a swapped or dropped tensor shows."""
    config_class, defaults = CONFIGS[model_type]
    config = config_class(**{**SIZES, **defaults, **overrides})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            else:
                param.normal_(0.0, 0.1)
    return model


def hf_logits(model: torch.nn.Module, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(ids)).logits.numpy()


@nnx.jit
def _forward(model: Decoder, tokens: jax.Array, positions: jax.Array) -> jax.Array:
    return model(tokens, positions).logits


def our_logits(model: Decoder, ids: np.ndarray) -> np.ndarray:
    positions = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
    return np.asarray(_forward(model, jnp.asarray(ids), positions))


def hf_greedy(model: torch.nn.Module, ids: np.ndarray, steps: int) -> np.ndarray:
    """transformers' own greedy search (with its KV cache): the reference continuation."""
    tokens = torch.as_tensor(ids)
    with torch.no_grad():
        out = model.generate(
            tokens,
            attention_mask=torch.ones_like(tokens),
            do_sample=False,
            max_new_tokens=steps,
            eos_token_id=None,  # no early stop; min_new_tokens would instead forbid the EOS token
            pad_token_id=0,
        )
    return out[:, ids.shape[1] :].numpy()


@nnx.jit
def _cached_step(model: Decoder, tokens: jax.Array, positions: jax.Array, cache: KVCache):
    out = model(tokens, positions, cache=cache)
    return jnp.argmax(out.logits[:, -1], axis=-1), out.cache


def our_greedy(model: Decoder, ids: np.ndarray, steps: int) -> np.ndarray:
    """Prefill, then one token at a time through the KV cache."""
    batch, length = ids.shape
    cache = KVCache.empty(model.config, batch, length + steps)
    positions = jnp.broadcast_to(jnp.arange(length), ids.shape)
    next_token, cache = _cached_step(model, jnp.asarray(ids), positions, cache)
    out = [next_token]
    for t in range(length, length + steps - 1):
        next_token, cache = _cached_step(model, next_token[:, None], jnp.full((batch, 1), t), cache)
        out.append(next_token)
    return np.stack([np.asarray(t) for t in out], axis=1)


def save_hf(model: torch.nn.Module, directory: Path, **kwargs) -> Path:
    model.save_pretrained(directory, **kwargs)
    return directory


def assert_same_tensors(dir_a: Path, dir_b: Path, dtype=None) -> None:
    """Same names, dtypes, shapes and bytes (after casting ``dir_a``'s tensors to ``dtype`` if given)."""
    with SafetensorsReader(dir_a) as a, SafetensorsReader(dir_b) as b:
        assert sorted(a.names()) == sorted(b.names())
        for name in a.names():
            expected = a.read(name) if dtype is None else a.read(name).astype(dtype)
            got = b.read(name)
            assert got.dtype == expected.dtype and got.shape == expected.shape, name
            assert got.tobytes() == expected.tobytes(), name
