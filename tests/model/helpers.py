"""Tiny decoders for the model tests: one per PE, all of the same size."""

from __future__ import annotations

from flax import nnx

from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder

PE_CASES = {
    "sinusoidal": (),
    "rope": (("fraction", 0.5),),
    "alibi": (),
    "diet-abs": (("variant", "abs"),),
    "diet-rel": (("variant", "rel"), ("max_distance", 8)),
    "t5": (("num_buckets", 8), ("max_distance", 16)),
    "nope": (),
    "abacus": (("max_offset", 4),),
    "place_bias": (("max_distance", 3),),
    "place_bias-masked": (("max_distance", 2), ("beyond", "masked")),
    "abacus_place": (("max_offset", 4), ("max_distance", 3)),
    "fire": (("init_threshold", 8.0),),  # L inside the tests' lengths: progressive interpolation acts
    "learned": (),
}


def tiny_config(pe_case: str = "rope", **changes) -> ModelConfig:
    cfg = ModelConfig(
        vocab_size=32,
        width=32,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        mlp_dim=64,
        max_len=64,
        pe_name=pe_case.split("-")[0],
        pe_options=PE_CASES[pe_case],
        digit_ids=tuple(range(3, 13)),  # the character tokenizer's digits, for PEs that read digit places
    )
    return cfg.replace(**changes)


def tiny_model(pe_case: str = "rope", seed: int = 0, **changes) -> Decoder:
    model = Decoder(tiny_config(pe_case, **changes), rngs=nnx.Rngs(seed))
    # Learned PE tables start at zero or near it; randomise them so the tests see their effect.
    for path, var in nnx.iter_graph(model):
        if isinstance(var, nnx.Param) and path and path[0] == "pe":
            var[...] = nnx.initializers.normal(0.5)(nnx.Rngs(seed + 1).params(), var[...].shape)
    return model


def jit_forward(model: Decoder):
    """``f(tokens, positions, cache=None) -> DecoderOutput``, jitted once per input shape (eager
    NNX dispatches every small op separately, which makes tests slow)."""
    import jax

    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(tokens, positions, cache=None):
        return nnx.merge(graphdef, state)(tokens, positions, cache=cache)

    return forward
