"""The positional-encoding interface shared by every PE.

A PE can act at three places in a decoder and implements only those it needs:

* ``embed``: added to the token embeddings (absolute encodings);
* ``rotate``: a transform of queries and keys (rotary encodings);
* ``bias``: an additive attention-logit term per head (relative encodings).

A PE that needs a per-token input other than positions (Abacus reads each digit's place within its
number) names it in ``inputs``; the decoder computes every named input from the token ids
(``mathpe_jax.model.token_inputs``) and passes it to ``embed`` and ``bias`` as a keyword argument of
that name, so the decoder never asks which PE wants what.

One instance serves a whole model. The decoder passes the layer index, so a PE with
per-layer parameters (for example DIET-REL) indexes its own table, and a PE shared by all
layers ignores it: the model never needs to know which kind it holds.

Positions are explicit integer arrays ``[batch, length]``; a negative position marks padding
(the attention masks such keys out). Angles, frequencies and biases are computed in float32.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


@dataclasses.dataclass(frozen=True)
class PEDims:
    """The model sizes a PE needs to build itself."""

    width: int
    num_heads: int
    head_dim: int
    num_layers: int
    max_len: int


class PositionalEncoding(nnx.Module):
    """Base class: every hook is the identity (or no bias) until a subclass overrides it."""

    #: A model built with this PE gets a BOS token prepended to every sequence.
    requires_bos: bool = False
    #: The per-token inputs ``embed`` and ``bias`` take as keyword arguments (names in
    #: ``model.token_inputs``).
    inputs: tuple[str, ...] = ()

    @classmethod
    def option_names(cls) -> set[str]:
        """The options this PE takes (``model.pe.*``): its constructor's keyword arguments."""
        params = inspect.signature(cls.__init__).parameters
        return {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY and p != "rngs"}

    def embed(self, x: jax.Array, positions: jax.Array, **inputs: jax.Array) -> jax.Array:
        """Returns token embeddings ``x [B, T, D]`` with absolute position information added;
        ``inputs`` holds one ``[B, T]`` int32 array per name in ``self.inputs``."""
        del positions, inputs
        return x

    def rotate(
        self, q: jax.Array, k: jax.Array, positions: jax.Array, layer: int
    ) -> tuple[jax.Array, jax.Array]:
        """Transforms ``q [B, T, H, d]`` and ``k [B, T, KV, d]`` taken at ``positions [B, T]``."""
        del positions, layer
        return q, k

    def coverage(self, trained: int, evaluated: int) -> dict[str, Any]:
        """Which parts of this PE training reached, for a model trained on sequences of at most
        ``trained`` positions (0 to trained - 1) and evaluated on up to ``evaluated``.

        Returns ``{"learned": bool, "unit": str, "untrained": [ints], "summary": str}``: the units
        (positions, table rows, distances, buckets) that evaluation meets and training never did.
        Learned units there keep their initial values; fixed functions (sin/cos, rotations, slopes)
        are merely evaluated at new arguments. This default describes a PE without learned position
        parameters; PEs with tables override it.
        """
        unseen = list(range(trained, evaluated))
        return {
            "learned": False,
            "unit": "position",
            "untrained": unseen,
            "summary": f"no learned position parameters; positions {span(unseen)} beyond training",
        }

    def bias(
        self, q_positions: jax.Array, k_positions: jax.Array, layer: int, **inputs: tuple[jax.Array, jax.Array]
    ) -> jax.Array | None:
        """Returns an additive logit bias ``[B, H, T, S]`` in float32, or None for no bias;
        ``inputs`` holds, per name in ``self.inputs``, the queries' ``[B, T]`` and the keys'
        ``[B, S]`` values."""
        del q_positions, k_positions, layer, inputs
        return None


def span(units: list[int]) -> str:
    """``3-7`` for a run of integers, ``3-7, 9`` for several, ``none`` for no integer."""
    if not units:
        return "none"
    runs, start = [], units[0]
    for previous, current in zip(units, units[1:] + [None]):
        if current != previous + 1:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    return ", ".join(runs)


def relative_distance(q_positions: jax.Array, k_positions: jax.Array) -> jax.Array:
    """``i - j`` for every query/key pair: ``[B, T, S]`` int32."""
    return q_positions[:, :, None].astype(jnp.int32) - k_positions[:, None, :].astype(jnp.int32)
