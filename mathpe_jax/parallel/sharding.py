"""Logical axis names -> mesh axes (data / fsdp / tensor), in one table of rules.

Parameters and activations are annotated with logical names; ``RULES`` decides where each one
lives. Changing the parallelism of a run means changing the mesh shape, not the model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
from flax import linen as nn
from flax import nnx

MESH_AXES = ("data", "fsdp", "tensor")

# Logical name -> mesh axis (or axes). Names missing here are replicated.
RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("norm", None),
    ("layers", None),
)


def constrain(x: jax.Array, axes: Sequence[str | None]) -> jax.Array:
    """Sharding constraint by logical names; a no-op outside a mesh and rules context."""
    return nn.with_logical_constraint(x, tuple(axes))


def logical_rules():
    """Context manager that activates ``RULES`` for the code inside it."""
    return nn.logical_axis_rules(RULES)


def state_shardings(state: nnx.State, mesh: jax.sharding.Mesh) -> nnx.State:
    """The NamedSharding of every variable in ``state``, from its logical axis names."""
    with logical_rules():
        return nnx.get_named_sharding(state, mesh)


def create_sharded(constructor, mesh: jax.sharding.Mesh) -> nnx.Module:
    """Builds ``constructor()`` (an nnx Module) with every variable created directly on its
    target sharding: shapes come from an abstract pass, values from one jitted initializer, so no
    device ever holds an unsharded copy of the parameters."""
    abstract = nnx.eval_shape(constructor)
    graphdef, abstract_state = nnx.split(abstract)
    shardings = state_shardings(abstract_state, mesh)

    @functools.partial(jax.jit, out_shardings=shardings)
    def init():
        return nnx.state(constructor())

    return nnx.merge(graphdef, init())
