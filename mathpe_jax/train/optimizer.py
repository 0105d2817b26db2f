"""AdamW with linear warmup, cosine decay and global-norm clipping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import optax


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
