"""AdamW with linear warmup, cosine decay and global-norm clipping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def learning_rate_schedule(train: Mapping[str, Any]) -> optax.Schedule:
    """0 -> lr over ``warmup_steps``, then cosine down to ``lr * end_lr_ratio`` at ``steps``."""
    lr, warmup = train["learning_rate"], train["warmup_steps"]
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=lr,
        warmup_steps=warmup,
        decay_steps=max(train["steps"], warmup + 1),
        end_value=lr * train["end_lr_ratio"],
    )


def make_optimizer(train: Mapping[str, Any]) -> optax.GradientTransformation:
    """Clipping, then AdamW. Weight decay applies to matrices only (not norms, biases or vectors)."""

    def decay_mask(params):
        return jax.tree.map(lambda p: p.ndim >= 2, params)

    return optax.chain(
        optax.clip_by_global_norm(train["clip_norm"]),
        optax.adamw(learning_rate_schedule(train), b1=0.9, b2=0.98, weight_decay=train["weight_decay"], mask=decay_mask),
    )


def opt_state_shardings(tx: optax.GradientTransformation, params: Any, param_shardings: Any, mesh: Mesh) -> Any:
    """Where each array of ``tx``'s state lives: moments beside their parameter (split as it is),
    counts and other scalars replicated. Left to XLA, ``tx.init``'s zeros come out replicated, which
    keeps a whole copy of Adam's two moments on every device of an FSDP mesh."""
    replicated = NamedSharding(mesh, PartitionSpec())
    return optax.tree_map_params(
        tx, lambda _, sharding: sharding, jax.eval_shape(tx.init, params), param_shardings,
        transform_non_params=lambda _: replicated,
    )
