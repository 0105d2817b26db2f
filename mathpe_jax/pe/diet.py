"""DIET (Chen et al., 2021): position enters only as an additive logit term, decoupled from content.

* ``variant="abs"`` (DIET-ABS): learned per-head matrices P_Q, P_K of shape [n_max, rank]; the
  product (P_Q P_K^T)[i, j] is added to the logits. Shared by all layers by default, the paper's
  best setting; ``share_across_layers=False`` gives each layer its own pair.
  The paper has no rule for positions beyond n_max: they are clipped to n_max - 1.
* ``variant="rel"`` (DIET-REL): a learned per-head scalar for each relative distance i - j, clipped
  at ``max_distance``. One table per layer by default (the paper found sharing hurts REL);
  ``share_across_layers=True`` keeps a single table.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding, relative_distance, span

VARIANTS = ("abs", "rel")


class DIET(PositionalEncoding):
    """Parameters: ``p_q``, ``p_k [tables, heads, n_max, rank]`` (abs) or ``rel [tables, heads,
    max_distance+1]``; ``tables`` is 1 when shared across layers, else the number of layers.
    ``share_across_layers=None`` takes each variant's default from the paper (abs shared, rel not)."""

    def __init__(
        self,
        dims: PEDims,
        *,
        rngs: nnx.Rngs,
        variant: str = "abs",
        rank: int = 16,
        max_len: int = 0,
        max_distance: int = 64,
        share_across_layers: bool | None = None,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"model.pe.variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.shared = (variant == "abs") if share_across_layers is None else share_across_layers
        tables = 1 if self.shared else dims.num_layers
        if variant == "abs":
            self.max_len = max_len or dims.max_len
            if rank < 1 or self.max_len < 1:
                raise ValueError(f"DIET-ABS needs rank >= 1 and max_len >= 1, got rank={rank}, max_len={self.max_len}")
            # Product std ~ rank^-1/2: position starts as a mild signal that can still learn quickly.
            init = nnx.initializers.normal(rank**-0.5)
            shape = (tables, dims.num_heads, self.max_len, rank)
            axes = ("layers", "heads", None, None)
            self.p_q = nnx.Param(init(rngs.params(), shape, jnp.float32), out_sharding=axes)
            self.p_k = nnx.Param(init(rngs.params(), shape, jnp.float32), out_sharding=axes)
        else:
            if max_distance < 1:
                raise ValueError(f"DIET-REL needs max_distance >= 1, got {max_distance}")
            self.max_distance = max_distance
            # Zeros: training starts from the causal mask alone, as NoPE does.
            self.rel = nnx.Param(
                jnp.zeros((tables, dims.num_heads, max_distance + 1), jnp.float32),
                out_sharding=("layers", "heads", None),
            )

    def coverage(self, trained, evaluated):
        """ABS: table rows past the training positions are untrained (positions past ``max_len``
        share the last row). REL: distances past the training length are untrained, up to
        ``max_distance``, where all longer distances share one entry."""
        if self.variant == "abs":
            untrained = list(range(min(trained, self.max_len), min(evaluated, self.max_len)))
            unit, limit = "row", f"positions past {self.max_len - 1} reuse row {self.max_len - 1}"
        else:
            untrained = list(range(min(trained, self.max_distance + 1), min(evaluated, self.max_distance + 1)))
            unit, limit = "distance", f"distances past {self.max_distance} reuse entry {self.max_distance}"
        return {"learned": True, "unit": unit, "untrained": untrained,
                "summary": f"{unit}s {span(untrained)} never trained ({limit})"}

    def bias(self, q_positions, k_positions, layer):
        table = 0 if self.shared else layer
        if self.variant == "abs":
            qp = jnp.clip(q_positions, 0, self.max_len - 1)
            kp = jnp.clip(k_positions, 0, self.max_len - 1)
            p_q = self.p_q[...][table][:, qp]  # [H, B, T, rank]
            p_k = self.p_k[...][table][:, kp]  # [H, B, S, rank]
            return jnp.einsum("hbtr,hbsr->bhts", p_q, p_k)
        distance = jnp.clip(relative_distance(q_positions, k_positions), 0, self.max_distance)
        rel = self.rel[...][table]  # [H, max_distance + 1]
        return jnp.transpose(rel[:, distance], (1, 0, 2, 3))
