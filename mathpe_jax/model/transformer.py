"""A Llama-style decoder: RMSNorm, SwiGLU, grouped-query attention, a KV cache and one PE.

The PE is a plug-in (see ``mathpe_jax.pe``): the decoder calls its three hooks and never asks
which encoding it is. Parameters carry logical axis names (``embed``, ``heads``, ``kv_heads``,
``mlp``, ``vocab``) that ``mathpe_jax.parallel`` maps onto mesh axes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.model.attention import attention
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.parallel.sharding import constrain
from mathpe_jax.pe import PositionalEncoding, build_pe

ACTIVATION_AXES = ("batch", "length", "embed")

#: Folded into the seed's key to give the PE its own stream. The shared layers draw
#: ``fold_in(key, n)`` for n = 0, 1, 2, ... (one per initialised array), which never reaches this.
PE_STREAM = 2**31 - 1


def pe_rngs(rngs: nnx.Rngs) -> nnx.Rngs:
    """The PE's random stream, derived from the root key of ``rngs`` without drawing from it.

    Models that differ only in PE must start from the same shared weights for the same seed: if
    the PE drew from the stream of the embedding, attention and MLP, a PE with parameters (T5,
    DIET) would shift every later draw. Reading the root key (not the current count) also makes a
    PE swapped in by ``Decoder.replace_pe`` equal to the one a fresh model with that seed gets.
    """
    return nnx.Rngs(params=jax.random.fold_in(rngs.params.key[...], PE_STREAM))


def dense(cfg: ModelConfig, d_in: int, d_out: int, axes: tuple[str, str], rngs: nnx.Rngs, bias: bool = False):
    """A bias-free (by default) projection whose kernel ``[in, out]`` carries logical axis names."""
    return nnx.Linear(
        d_in,
        d_out,
        use_bias=bias,
        dtype=cfg.compute_dtype,
        param_dtype=cfg.weight_dtype,
        kernel_init=nnx.with_partitioning(nnx.initializers.normal(d_in**-0.5), axes),
        bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), (axes[1],)),
        rngs=rngs,
    )


class RMSNorm(nnx.Module):
    """Root-mean-square norm computed in float32, as Llama does, then cast back."""

    def __init__(self, cfg: ModelConfig):
        self.eps = cfg.norm_eps
        self.scale = nnx.Param(jnp.ones((cfg.width,), cfg.weight_dtype), out_sharding=("norm",))

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (self.scale[...].astype(jnp.float32) * normed).astype(x.dtype)


class MLP(nnx.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.gate_proj = dense(cfg, cfg.width, cfg.mlp_dim, ("embed", "mlp"), rngs)
        self.up_proj = dense(cfg, cfg.width, cfg.mlp_dim, ("embed", "mlp"), rngs)
        self.down_proj = dense(cfg, cfg.mlp_dim, cfg.width, ("mlp", "embed"), rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Attention(nnx.Module):
    """Grouped-query self-attention; the PE rotates q/k and/or adds a logit bias."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.implementation = cfg.attention_impl
        self.window = cfg.sliding_window
        q_width, kv_width = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
        self.q_proj = dense(cfg, cfg.width, q_width, ("embed", "heads"), rngs, cfg.qkv_bias)
        self.k_proj = dense(cfg, cfg.width, kv_width, ("embed", "kv_heads"), rngs, cfg.qkv_bias)
        self.v_proj = dense(cfg, cfg.width, kv_width, ("embed", "kv_heads"), rngs, cfg.qkv_bias)
        self.o_proj = dense(cfg, q_width, cfg.width, ("heads", "embed"), rngs)

    def __call__(self, x, positions, k_positions, pe: PositionalEncoding, layer: int, cache, layer_kv, return_probs):
        batch, length, _ = x.shape
        q = self.q_proj(x).reshape(batch, length, self.num_heads, self.head_dim)
        k = self.k_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        q, k = pe.rotate(q, k, positions, layer)
        if cache is not None:
            layer_kv = cache.write(k, v, layer_kv)
            k, v = layer_kv
        out, probs = attention(
            q,
            k,
            v,
            q_positions=positions,
            k_positions=k_positions,
            bias=pe.bias(positions, k_positions, layer),
            causal_slots=cache is None,
            window=self.window,
            return_probs=return_probs,
            implementation=self.implementation,
        )
        return self.o_proj(out.reshape(batch, length, -1)), layer_kv, probs


class Block(nnx.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.attn_norm = RMSNorm(cfg)
        self.attn = Attention(cfg, rngs)
        self.mlp_norm = RMSNorm(cfg)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x, positions, k_positions, pe, layer, cache, layer_kv, return_probs):
        h, layer_kv, probs = self.attn(
            self.attn_norm(x), positions, k_positions, pe, layer, cache, layer_kv, return_probs
        )
        x = constrain(x + h, ACTIVATION_AXES)
        x = constrain(x + self.mlp(self.mlp_norm(x)), ACTIVATION_AXES)
        return x, layer_kv, probs


class DecoderOutput(NamedTuple):
    logits: jax.Array  # [B, T, V] float32
    cache: KVCache | None
    attention: tuple[jax.Array, ...] | None  # per layer [B, H, T, S] float32


class Decoder(nnx.Module):
    """Token ids and explicit positions in, next-token logits out."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        """``rngs`` initialises the shared layers; the PE draws from ``pe_rngs(rngs)``."""
        self.config = cfg
        self.embed = nnx.Embed(
            cfg.vocab_size,
            cfg.width,
            dtype=cfg.compute_dtype,
            param_dtype=cfg.weight_dtype,
            embedding_init=nnx.with_partitioning(nnx.initializers.normal(1.0), ("vocab", "embed")),
            rngs=rngs,
        )
        self.pe = build_pe(cfg.pe_name, cfg.pe_dims, dict(cfg.pe_options), pe_rngs(rngs))
        self.layers = nnx.List([Block(cfg, rngs) for _ in range(cfg.num_layers)])
        self.final_norm = RMSNorm(cfg)
        self.lm_head = None if cfg.tie_embeddings else dense(cfg, cfg.width, cfg.vocab_size, ("embed", "vocab"), rngs)

    def replace_pe(self, name: str, options: dict, rngs: nnx.Rngs) -> None:
        """Swaps in another positional encoding (e.g. on a converted checkpoint); the new PE's own
        parameters, if any, are freshly initialised from the PE stream of ``rngs`` (the run's seed),
        so they equal those of a fresh model with that seed and PE."""
        cfg = self.config.replace(pe_name=name, pe_options=tuple(sorted(options.items())))
        self.pe = build_pe(name, cfg.pe_dims, options, pe_rngs(rngs))
        self.config = cfg

    def __call__(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        *,
        cache: KVCache | None = None,
        return_attention: bool = False,
    ) -> DecoderOutput:
        """Runs ``tokens [B, T]`` at ``positions [B, T]`` (negative = padding).

        With a cache, the tokens are appended at ``cache.index`` and attend to everything cached.
        """
        hidden, cache, probs = self.hidden_states(tokens, positions, cache=cache, return_attention=return_attention)
        return DecoderOutput(self.logits(hidden), cache, probs)

    def hidden_states(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        *,
        cache: KVCache | None = None,
        return_attention: bool = False,
    ) -> tuple[jax.Array, KVCache | None, tuple[jax.Array, ...] | None]:
        """The final-normed hidden states ``[B, T, D]`` that ``logits`` projects, the updated cache
        and the per-layer attention probabilities (see ``__call__``). Training takes this route to
        fuse the output projection with its loss (``mathpe_jax.train.loss``)."""
        if cache is None:
            k_positions = positions
        else:
            cache = cache.with_positions(positions)
            k_positions = cache.positions
        x = self.pe.embed(self.embed(tokens), positions)
        x = constrain(x, ACTIVATION_AXES)
        new_kv, probs = [], []
        for layer, block in enumerate(self.layers):
            layer_kv = None if cache is None else (cache.keys[layer], cache.values[layer])
            x, layer_kv, p = block(x, positions, k_positions, self.pe, layer, cache, layer_kv, return_attention)
            new_kv.append(layer_kv)
            probs.append(p)
        if cache is not None:
            cache = cache.replace(
                keys=tuple(k for k, _ in new_kv),
                values=tuple(v for _, v in new_kv),
                index=cache.index + tokens.shape[1],
            )
        return self.final_norm(x), cache, tuple(probs) if return_attention else None

    def logits(self, hidden: jax.Array) -> jax.Array:
        """Next-token logits ``[..., V]`` in float32 from hidden states ``[..., D]``."""
        logits = self.embed.attend(hidden) if self.lm_head is None else self.lm_head(hidden)
        return logits.astype(jnp.float32)

    def output_kernel(self) -> jax.Array | None:
        """The output projection as one ``[D, V]`` matrix (the embedding, transposed, when tied), or
        None when it is more than a matrix (LoRA adapters on ``lm_head``)."""
        if self.lm_head is None:
            return self.embed.embedding[...].T
        if type(self.lm_head) is nnx.Linear and self.lm_head.bias is None:
            return self.lm_head.kernel[...]
        return None
