"""The jitted training step: masked next-token loss, gradient accumulation, optimizer update.

Only the trainable part of the model is differentiated and has optimizer state; the rest (a
frozen base under LoRA, for example) is an input that is read and never written.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from mathpe_jax.data.batching import Batch
from mathpe_jax.parallel.sharding import activation_sharding, constrain
from mathpe_jax.train.loss import lm_loss_sum


@struct.dataclass
class TrainState:
    step: jax.Array
    params: nnx.State  # the trainable variables
    opt_state: optax.OptState
    rngs: nnx.State  # random streams of the model (dropout), advanced every step


def micro_batches(batch: Batch, grad_accum: int) -> Batch:
    """``[B, ...]`` -> ``[grad_accum, B / grad_accum, ...]``, micro-batch i holding rows i,
    i + grad_accum, ...: a strided split keeps each device's rows in every micro-batch, so the batch
    sharding stays on the rows axis (a contiguous split would move it onto the scanned axis)."""

    def split(x: jax.Array) -> jax.Array:
        x = x.reshape(-1, grad_accum, *x.shape[1:]).swapaxes(0, 1)
        return constrain(x, (None, "batch") + (None,) * (x.ndim - 2))

    return jax.tree.map(split, batch)


def make_train_step(
    graphdef: nnx.GraphDef,
    tx: optax.GradientTransformation,
    grad_accum: int,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[[TrainState, nnx.State, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """``step(state, frozen, batch) -> (state, metrics)``; the batch is split into ``grad_accum``
    micro-batches whose gradients are summed, so the update equals the one of the whole batch.
    With a ``mesh``, activations are constrained to it while the step is traced."""

    def loss_fn(params, rngs, frozen, micro: Batch):
        # A copy: the random streams arrive from outside the gradient's trace, and a module drawing
        # from them (dropout, Abacus's offset) may only advance variables created at this level.
        model = nnx.merge(graphdef, params, rngs, frozen, copy=True)
        loss_sum, count = lm_loss_sum(model, micro.inputs, micro.positions, micro.targets, micro.loss_mask)
        return loss_sum, (count, nnx.state(model, nnx.RngState))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state: TrainState, frozen: nnx.State, batch: Batch):
        with activation_sharding(mesh):
            return accumulated_step(state, frozen, batch)

    def accumulated_step(state: TrainState, frozen: nnx.State, batch: Batch):

        def accumulate(carry, micro):
            grads, rngs, loss_sum, count = carry
            (l_sum, (n, rngs)), g = grad_fn(state.params, rngs, frozen, micro)
            return (jax.tree.map(jnp.add, grads, g), rngs, loss_sum + l_sum, count + n), None

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        carry = (zeros, state.rngs, 0.0, 0.0)
        (grads, rngs, loss_sum, count), _ = jax.lax.scan(accumulate, carry, micro_batches(batch, grad_accum))
        count = jnp.maximum(count, 1.0)
        grads = jax.tree.map(lambda g: g / count, grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": loss_sum / count,
            "grad_norm": optax.tree.norm(grads),
            "tokens": jnp.sum(batch.positions >= 0),
        }
        return TrainState(state.step + 1, params, opt_state, rngs), metrics

    return step
