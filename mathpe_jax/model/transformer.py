"""A Llama-style decoder: RMSNorm, SwiGLU, grouped-query attention, a KV cache and one PE.

The PE is a plug-in (see ``mathpe_jax.pe``): the decoder calls its three hooks and never asks
which encoding it is. Parameters carry logical axis names (``embed``, ``heads``, ``kv_heads``,
``mlp``, ``vocab``, and ``layers`` for a scanned stack) that ``mathpe_jax.parallel`` maps onto mesh
axes; activations are constrained by the same names.

Memory and compile time (``ModelConfig.remat`` and ``scan_layers``): in training each layer can be
rematerialised under a ``jax.checkpoint`` policy, and the layers can be kept as one stacked module
run by ``lax.scan``, so XLA compiles one layer instead of ``num_layers``. A stacked model is built
from the same per-layer draws as a plain one, so both start from equal weights.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.model.attention import Bias, attention
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model import token_inputs
from mathpe_jax.model.kv_cache import KVCache
from mathpe_jax.parallel.sharding import constrain
from mathpe_jax.pe import PositionalEncoding, build_pe

ACTIVATION_AXES = ("batch", "length", "embed")

#: What the backward pass keeps of a layer (the rest is recomputed): ``none`` keeps everything
#: autodiff saves, ``dots`` the outputs of matmuls without batch dimensions (the weight
#: projections, not attention's score products), ``full`` only the layer's input.
REMAT_POLICIES = {
    "none": None,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "full": jax.checkpoint_policies.nothing_saveable,
}

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

    def __call__(self, x, positions, k_positions, inputs, pe: PositionalEncoding, layer: int, cache, layer_kv, return_probs):
        """``inputs``: the per-token inputs of the queries and of the keys (``token_inputs``), for
        the PE's bias."""
        batch, length, _ = x.shape
        q = self.q_proj(x).reshape(batch, length, self.num_heads, self.head_dim)
        k = self.k_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        q, k = pe.rotate(q, k, positions, layer)
        q = constrain(q, ("batch", "length", "heads", None))
        k = constrain(k, ("batch", "length", "kv_heads", None))
        v = constrain(v, ("batch", "length", "kv_heads", None))
        if cache is not None:
            layer_kv = cache.write(k, v, layer_kv)
            k, v = layer_kv
        out, probs = attention(
            q,
            k,
            v,
            q_positions=positions,
            k_positions=k_positions,
            bias=pe_bias(pe, layer, *inputs),
            causal_slots=cache is None,
            window=self.window,
            return_probs=return_probs,
            implementation=self.implementation,
        )
        return self.o_proj(out.reshape(batch, length, -1)), layer_kv, probs


def _pe_bias_fn(graphdef: nnx.GraphDef, args, q_positions: jax.Array, k_positions: jax.Array, q_inputs, k_inputs):
    state, layer = args
    inputs = {name: (q_inputs[name], k_inputs[name]) for name in q_inputs}
    return nnx.merge(graphdef, state).bias(q_positions, k_positions, layer, **inputs)


def pe_bias(pe: PositionalEncoding, layer, q_inputs: dict[str, jax.Array], k_inputs: dict[str, jax.Array]) -> Bias:
    """The PE's bias hook as an attention ``Bias``: its parameters and the layer index travel as
    arguments, so attention computes the bias per query block and differentiates the parameters;
    the per-token inputs the PE reads reach its hook as ``name=(query values, key values)``."""
    graphdef, state = nnx.split(pe)
    return Bias(functools.partial(_pe_bias_fn, graphdef), (state, jnp.asarray(layer, jnp.int32)), q_inputs, k_inputs)


class Block(nnx.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.attn_norm = RMSNorm(cfg)
        self.attn = Attention(cfg, rngs)
        self.mlp_norm = RMSNorm(cfg)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x, positions, k_positions, inputs, pe, layer, cache, layer_kv, return_probs):
        h, layer_kv, probs = self.attn(
            self.attn_norm(x), positions, k_positions, inputs, pe, layer, cache, layer_kv, return_probs
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
        token_inputs.check_inputs(self.pe.inputs, cfg.pe_name)
        if cfg.remat not in REMAT_POLICIES:
            raise ValueError(f"model.remat must be one of {sorted(REMAT_POLICIES)}, got {cfg.remat!r}")
        blocks = [Block(cfg, rngs) for _ in range(cfg.num_layers)]
        # Scanned: one Block whose arrays have a leading layer axis, from the same per-layer draws.
        self.layers = stack_blocks(blocks) if cfg.scan_layers else nnx.List(blocks)
        self.final_norm = RMSNorm(cfg)
        self.lm_head = None if cfg.tie_embeddings else dense(cfg, cfg.width, cfg.vocab_size, ("embed", "vocab"), rngs)

    def configure(self, *, remat: str | None = None, attention_impl: str | None = None, scan_layers: bool | None = None) -> None:
        """Changes how the model runs, not what it computes: the remat policy, the attention
        kernel, and whether the layers are one scanned stack (restacking the same arrays). For a
        converted checkpoint, which is built with the defaults."""
        if remat is not None and remat not in REMAT_POLICIES:
            raise ValueError(f"model.remat must be one of {sorted(REMAT_POLICIES)}, got {remat!r}")
        changes = {key: value for key, value in (("remat", remat), ("attention_impl", attention_impl)) if value is not None}
        if attention_impl is not None:
            for _, module in nnx.iter_modules(self):
                if isinstance(module, Attention):
                    module.implementation = attention_impl
        if scan_layers is not None and scan_layers != self.config.scan_layers:
            if scan_layers:
                self.layers = stack_blocks(list(self.layers))
            else:
                self.layers = nnx.List(unstack_blocks(self.layers, self.config.num_layers))
            changes["scan_layers"] = scan_layers
        self.config = self.config.replace(**changes)

    def replace_pe(self, name: str, options: dict, rngs: nnx.Rngs) -> None:
        """Swaps in another positional encoding (e.g. on a converted checkpoint); the new PE's own
        parameters, if any, are freshly initialised from the PE stream of ``rngs`` (the run's seed),
        so they equal those of a fresh model with that seed and PE."""
        cfg = self.config.replace(pe_name=name, pe_options=tuple(sorted(options.items())))
        self.pe = build_pe(name, cfg.pe_dims, options, pe_rngs(rngs))
        token_inputs.check_inputs(self.pe.inputs, name)
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
        inputs = token_inputs.compute(self.pe.inputs, tokens, self.config, None if cache is None else cache.last_inputs())
        if cache is None:
            k_positions, k_inputs = positions, inputs
        else:
            cache = cache.with_tokens(positions, inputs)
            k_positions, k_inputs = cache.positions, cache.inputs
        x = self.pe.embed(self.embed(tokens), positions, **inputs)
        x = constrain(x, ACTIVATION_AXES)
        if cache is None and not return_attention:
            return constrain(self.final_norm(self._training_stack(x, positions, inputs)), ACTIVATION_AXES), None, None
        new_kv, probs = [], []
        for layer, block in enumerate(self.blocks()):
            layer_kv = None if cache is None else (cache.keys[layer], cache.values[layer])
            x, layer_kv, p = block(x, positions, k_positions, (inputs, k_inputs), self.pe, layer, cache, layer_kv,
                                   return_attention)
            new_kv.append(layer_kv)
            probs.append(p)
        if cache is not None:
            cache = cache.replace(
                keys=tuple(k for k, _ in new_kv),
                values=tuple(v for _, v in new_kv),
                index=cache.index + tokens.shape[1],
            )
        return constrain(self.final_norm(x), ACTIVATION_AXES), cache, tuple(probs) if return_attention else None

    def blocks(self) -> list[Block]:
        """The layers as separate Blocks (for a scanned stack, each one a slice of the stacked
        arrays): what decoding with a cache and attention capture loop over."""
        if not self.config.scan_layers:
            return list(self.layers)
        graphdef, state = nnx.split(self.layers)
        return [nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], state)) for i in range(self.config.num_layers)]

    def _training_stack(self, x: jax.Array, positions: jax.Array, inputs: dict[str, jax.Array]) -> jax.Array:
        """All layers without a cache, under the config's remat policy, scanned or in a loop.

        Remat and scan run each layer as a pure function of its split state; the plain stack calls
        the modules themselves, so that a random stream (LoRA dropout) advances in place."""
        if self.config.remat == "none" and not self.config.scan_layers:
            for layer, block in enumerate(self.layers):
                x = block(x, positions, positions, (inputs, inputs), self.pe, layer, None, None, False)[0]
            return x
        pe_graph, pe_state = nnx.split(self.pe)
        policy = REMAT_POLICIES[self.config.remat]

        def layer_fn(block_graph, block_state, pe_state, x, layer):
            block, pe = nnx.merge(block_graph, block_state), nnx.merge(pe_graph, pe_state)
            return block(x, positions, positions, (inputs, inputs), pe, layer, None, None, False)[0]

        if self.config.remat != "none":
            layer_fn = jax.checkpoint(layer_fn, policy=policy, static_argnums=(0,))
        if not self.config.scan_layers:
            for layer, block in enumerate(self.layers):
                x = layer_fn(*nnx.split(block), pe_state, x, layer)
            return x
        block_graph, stacked = nnx.split(self.layers)

        def body(x, layer_and_state):
            layer, block_state = layer_and_state
            return layer_fn(block_graph, block_state, pe_state, x, layer), None

        layers = jnp.arange(self.config.num_layers, dtype=jnp.int32)
        return jax.lax.scan(body, x, (layers, stacked))[0]

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


def stack_blocks(blocks: list[Block]) -> Block:
    """One Block whose every array is the per-layer arrays stacked on a new leading axis, with the
    logical axis name ``layers`` in front of each variable's own."""
    graphdef = nnx.graphdef(blocks[0])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(nnx.state(b) for b in blocks))
    for _, variable in nnx.to_flat_state(stacked):
        axes = variable.get_metadata().get("out_sharding")
        if axes is not None:
            variable.set_metadata("out_sharding", ("layers", *axes))
    return nnx.merge(graphdef, stacked)


def unstack_blocks(stacked: Block, num_layers: int) -> list[Block]:
    """The inverse of ``stack_blocks``: separate Blocks holding each layer's slice."""
    graphdef, state = nnx.split(stacked)
    blocks = []
    for i in range(num_layers):
        layer_state = jax.tree.map(lambda a, i=i: a[i], state)
        for _, variable in nnx.to_flat_state(layer_state):
            axes = variable.get_metadata().get("out_sharding")
            if axes is not None and axes[:1] == ("layers",):
                variable.set_metadata("out_sharding", tuple(axes[1:]))
        blocks.append(nnx.merge(graphdef, layer_state))
    return blocks
