"""FIRE (Li et al., 2023, "Functional Interpolation for Relative Positions Improves Long Context
Transformers"): a learned function of a normalised relative distance, added to the logits.

    b(i, j) = f_theta( psi(i - j) / psi(max(i, L)) ),    psi(x) = log(c x + 1)

* ``f_theta`` is an MLP 1 -> ``hidden`` -> heads with a ReLU, as in the paper's reference code
  (hidden 32).
* ``psi`` compresses long distances (log), and dividing by ``psi`` of the *query* position makes the
  input a fraction of the context seen so far (progressive interpolation): whatever the length, it
  lies in [0, 1] (causal, i - j <= i), so longer contexts are interpolated, not extrapolated. The
  bias of a fixed distance therefore changes with the query position.
* ``L`` floors the normaliser, so that short contexts (i < L) are not over-stretched: there the
  input is psi(i - j) / psi(L), a function of the distance alone.
* ``c`` and ``L`` are learned. Following the reference code, ``c`` is used as ``|c|`` and ``L`` as
  ``|s| * init_threshold`` with a learned multiplier ``s`` starting at 1: an optimizer step then
  moves ``L`` relatively (Adam's step on ``L`` itself would leave a value of hundreds unchanged).
  A small epsilon (1e-6, as there) keeps the normaliser positive if ``c`` or ``L`` reach zero.
  Inits are the reference code's: c = 0.1, L = 512, and the MLP as PyTorch's ``nn.Linear``
  (weights and biases uniform in +-fan_in^-1/2: with zero biases every hidden unit would switch on
  at 0, and f would start linear on [0, 1]).
  Unlike there, the output layer has no bias: a constant per head shifts every logit of a row
  alike, which softmax ignores, so it could never learn.
* By default each layer owns its FIRE (``share_across_layers=False``): the paper's reference module
  belongs to one attention layer, and the paper treats sharing one FIRE across layers, as T5 does
  its table, as a cheaper variant. Per-layer parameters carry a leading table axis indexed by the
  layer, as DIET-REL's do.

Distances are clamped at 0 (causal: later keys are masked anyway) and the normaliser reads the query
position floored by L, so padding (negative positions) gives finite values. All in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, relative_distance, span

EPS = 1e-6


def _uniform(rngs: nnx.Rngs, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    """PyTorch's ``nn.Linear`` initialisation: uniform in [-fan_in^-1/2, fan_in^-1/2]."""
    bound = fan_in**-0.5
    return jax.random.uniform(rngs.params(), shape, jnp.float32, -bound, bound)


class FIRE(PositionalEncoding):
    """Parameters, each with a leading ``tables`` axis (1 when shared across layers, else the number
    of layers): ``c``, ``threshold_scale`` ``[tables]``; the MLP's ``w1``, ``b1`` ``[tables, hidden]``
    and ``w2 [tables, hidden, heads]``."""

    def __init__(
        self,
        dims: PEDims,
        *,
        rngs: nnx.Rngs,
        hidden: int = 32,
        init_c: float = 0.1,
        init_threshold: float = 512.0,
        share_across_layers: bool = False,
    ):
        if hidden < 1:
            raise ValueError(f"model.pe.hidden must be >= 1, got {hidden}")
        if init_c <= 0:
            raise ValueError(f"model.pe.init_c must be > 0, got {init_c}")
        if init_threshold <= 0:
            raise ValueError(f"model.pe.init_threshold must be > 0, got {init_threshold}")
        self.shared = share_across_layers
        self.init_threshold = float(init_threshold)
        tables, heads = 1 if share_across_layers else dims.num_layers, dims.num_heads
        self.c = nnx.Param(jnp.full((tables,), init_c, jnp.float32), out_sharding=("layers",))
        self.threshold_scale = nnx.Param(jnp.ones((tables,), jnp.float32), out_sharding=("layers",))
        self.w1 = nnx.Param(_uniform(rngs, (tables, hidden), 1), out_sharding=("layers", None))
        self.b1 = nnx.Param(_uniform(rngs, (tables, hidden), 1), out_sharding=("layers", None))
        self.w2 = nnx.Param(_uniform(rngs, (tables, hidden, heads), hidden), out_sharding=("layers", None, "heads"))

    def thresholds(self) -> jax.Array:
        """L of each table ``[tables]``: the position below which the normaliser stays psi(L)."""
        return jnp.abs(self.threshold_scale[...].astype(jnp.float32)) * self.init_threshold

    def coverage(self, trained, evaluated):
        """The MLP's input is a normalised distance in [0, 1]. Once training reaches L (trained - 1
        >= L) it has seen inputs up to 1, and evaluation at any length only interpolates. While L
        exceeds the training positions, training's largest input is psi(trained - 1) / psi(L) < 1,
        and every longer distance evaluation meets gives a larger input: there the MLP extrapolates."""
        threshold = float(jnp.max(self.thresholds()))
        if trained - 1 >= threshold:
            return {"learned": True, "unit": "distance", "untrained": [],
                    "summary": f"normalised distances lie in [0, 1] in training and evaluation alike "
                               f"(training reaches L={threshold:.0f}): the MLP interpolates"}
        untrained = list(range(trained, evaluated))
        return {"learned": True, "unit": "distance", "untrained": untrained,
                "summary": f"distances {span(untrained)} give normalised inputs above training's largest "
                           f"(L={threshold:.0f} exceeds the training positions): the MLP extrapolates there"}

    def bias(self, q_positions, k_positions, layer):
        table = 0 if self.shared else layer
        f32 = jnp.float32
        c = jnp.abs(self.c[...].astype(f32)[table])
        threshold = self.thresholds()[table]
        distance = jnp.maximum(relative_distance(q_positions, k_positions), 0).astype(f32)  # [B, T, S]
        normaliser = jnp.log1p(c * jnp.maximum(q_positions.astype(f32), threshold)) + EPS  # [B, T]
        x = jnp.log1p(c * distance) / normaliser[:, :, None]
        w1, b1 = self.w1[...].astype(f32)[table], self.b1[...].astype(f32)[table]
        h = jax.nn.relu(x[..., None] * w1 + b1)  # [B, T, S, hidden]
        w2 = self.w2[...].astype(f32)[table]
        return jnp.einsum("btsk,kh->bhts", h, w2, precision=jax.lax.Precision.HIGHEST)
