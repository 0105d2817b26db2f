"""The device mesh (data / fsdp / tensor) and the placement of host batches on it."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from mathpe_jax.errors import UserError
from mathpe_jax.parallel.sharding import MESH_AXES


class MeshError(UserError, ValueError):
    """Mesh axis sizes that do not fit the devices present; names the config keys."""


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices=None) -> Mesh:
    """A mesh over all (or the given) devices; ``data=-1`` takes every device the others leave.

    Axes are of type Auto: shardings of parameters and batches are given, XLA propagates the rest.
    """
    devices = jax.devices() if devices is None else devices
    n = len(devices)
    if data == -1:
        if n % (fsdp * tensor):
            raise MeshError(
                f"config.mesh.fsdp={fsdp} x config.mesh.tensor={tensor} does not divide the {n} devices present"
            )
        data = n // (fsdp * tensor)
    if data * fsdp * tensor != n:
        raise MeshError(
            f"config.mesh.data={data} x config.mesh.fsdp={fsdp} x config.mesh.tensor={tensor} is not the {n} devices "
            "present (mesh.data=-1 takes whatever the others leave)"
        )
    return jax.make_mesh((data, fsdp, tensor), MESH_AXES, axis_types=(AxisType.Auto,) * 3, devices=devices)


def mesh_from_config(mesh_config: Mapping[str, int]) -> Mesh:
    return make_mesh(mesh_config["data"], mesh_config["fsdp"], mesh_config["tensor"])


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows over data and fsdp, everything else replicated."""
    return NamedSharding(mesh, PartitionSpec(("data", "fsdp")))


def batch_rows(mesh: Mesh) -> int:
    """How many ways the batch dimension is split."""
    return mesh.shape["data"] * mesh.shape["fsdp"]


def host_slice(global_rows: int) -> slice:
    """The rows of a global batch that this process feeds (processes split rows evenly)."""
    per_host = global_rows // jax.process_count()
    start = jax.process_index() * per_host
    return slice(start, start + per_host)


def to_global(mesh: Mesh, global_batch):
    """Places a batch that every process can build in full (a NamedTuple or dict of NumPy arrays)
    on the mesh, each process contributing only its own rows."""
    sharding = batch_sharding(mesh)

    def place(x: np.ndarray) -> jax.Array:
        local = x[host_slice(x.shape[0])]
        return jax.make_array_from_process_local_data(sharding, local, x.shape)

    return jax.tree.map(place, global_batch)
