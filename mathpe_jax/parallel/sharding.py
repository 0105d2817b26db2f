"""Logical axis names -> mesh axes (data / fsdp / tensor), in one table of rules.

Parameters and activations are annotated with logical names; ``RULES`` decides where each one
lives. Changing the parallelism of a run means changing the mesh shape, not the model.

Parameters are placed by ``state_shardings``. Activations are constrained by ``constrain`` while a
function is traced inside ``activation_sharding(mesh)``: the training and decoding steps trace
under it, so the hidden states of a step are split over the batch axes (and heads over
``tensor``) instead of being left to XLA's propagation, which kept them whole on every device.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Iterator, Sequence

import jax
from flax import linen as nn
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

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


_ACTIVATION_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar("activation_mesh", default=None)


@contextlib.contextmanager
def activation_sharding(mesh: Mesh | None) -> Iterator[None]:
    """Makes ``constrain`` place activations on ``mesh`` for the code traced inside (None: off)."""
    token = _ACTIVATION_MESH.set(mesh)
    try:
        yield
    finally:
        _ACTIVATION_MESH.reset(token)


def mesh_of(tree) -> Mesh | None:
    """The mesh the arrays of ``tree`` are placed on (by NamedSharding), or None."""
    for leaf in jax.tree.leaves(tree):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, NamedSharding):
            return sharding.mesh
    return None


def logical_spec(shape: Sequence[int], axes: Sequence[str | None], mesh: Mesh) -> PartitionSpec:
    """The PartitionSpec of an array of ``shape`` named by logical ``axes`` under ``RULES``; a
    dimension that the mesh axes do not divide (a batch of 1 while decoding) stays whole."""
    spec = nn.logical_to_mesh_axes(tuple(axes), RULES)
    parts = []
    for size, mesh_axes in zip(shape, spec, strict=True):
        names = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes or ())
        ways = math.prod(mesh.shape[n] for n in names)
        parts.append(mesh_axes if names and size % ways == 0 else None)
    return PartitionSpec(*parts)


def constrain(x: jax.Array, axes: Sequence[str | None]) -> jax.Array:
    """Sharding constraint by logical names inside ``activation_sharding``; a no-op outside it."""
    mesh = _ACTIVATION_MESH.get()
    if mesh is None or mesh.size == 1:
        return x
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, logical_spec(x.shape, axes, mesh)))


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
