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

from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.composite import Composite
from mathpe_jax.pe.fire import FIRE


class AbacusFIRE(Composite):
    """Parameters: ``abacus`` (Abacus's table) and ``fire`` (FIRE's per-layer MLPs). FIRE gives
    attention positions, so no BOS is needed."""

    parts = (("abacus", Abacus), ("fire", FIRE))
