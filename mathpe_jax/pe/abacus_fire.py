"""Abacus embeddings with FIRE in attention (McLeish et al. 2024, "Abacus + FIRE").

Abacus tells every digit its place within its number, which lines up digits of equal significance
at any length; but attention with Abacus alone has no position, and infers distance and order from
the causal mask only. FIRE adds a learned function of the normalised relative distance to the
logits, which does not grow with the length (progressive interpolation). McLeish et al. combine the
two, as here. On 1-10 digit addition (``configs/experiments/addition_record_cpu.py``, 3 seeds) it
matched Abacus alone at 20 digits, 0.73 exact match, with a wider spread (0.42-0.94 against
0.55-0.83): failed long sums there attend to digits 11 or more places away, which no training
sequence holds together, and an order in attention does not change that.

Each part is its own PE (``abacus.py``, ``fire.py``) and keeps its options and parameters under its
own name: ``embed`` is Abacus's, ``bias`` is FIRE's.
"""

from __future__ import annotations

from flax import nnx

from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.base import PEDims, PositionalEncoding
from mathpe_jax.pe.fire import FIRE


class AbacusFIRE(PositionalEncoding):
    """Parameters: ``abacus`` (Abacus's table) and ``fire`` (FIRE's per-layer MLPs)."""

    inputs = Abacus.inputs  # FIRE gives attention positions, so no BOS is needed

    def __init__(
        self,
        dims: PEDims,
        *,
        rngs: nnx.Rngs,
        max_offset: int = 100,
        offset_per: str = "batch",
        hidden: int = 32,
        init_c: float = 0.1,
        init_threshold: float = 512.0,
        share_across_layers: bool = False,
    ):
        self.abacus = Abacus(dims, rngs=rngs, max_offset=max_offset, offset_per=offset_per)
        self.fire = FIRE(dims, rngs=rngs, hidden=hidden, init_c=init_c, init_threshold=init_threshold,
                         share_across_layers=share_across_layers)

    def embed(self, x, positions, *, digit_index):
        return self.abacus.embed(x, positions, digit_index=digit_index)

    def bias(self, q_positions, k_positions, layer, **inputs):
        del inputs  # FIRE reads positions only
        return self.fire.bias(q_positions, k_positions, layer)

    def coverage(self, trained, evaluated):
        """Abacus's places (what a digit's row may be) with FIRE's account of distances."""
        places, distances = self.abacus.coverage(trained, evaluated), self.fire.coverage(trained, evaluated)
        return {**places, "summary": f"{places['summary']}; {distances['summary']}"}
