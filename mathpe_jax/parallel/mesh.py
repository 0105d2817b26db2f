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

    With the devices of several processes (nodes), the mesh is hybrid: every fsdp x tensor group
    lies inside one process, where the links are fast, and only the data axis spans processes
    (see ``device_grid``). Axes are of type Auto: shardings of parameters and batches are given, XLA
    propagates the rest.
    """
    devices = jax.devices() if devices is None else devices
    grid = device_grid(devices, data, fsdp, tensor)
    if len({d.process_index for d in devices}) == 1:
        return jax.make_mesh(grid.shape, MESH_AXES, axis_types=(AxisType.Auto,) * 3, devices=devices)
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * 3)


def device_grid(devices, data: int = -1, fsdp: int = 1, tensor: int = 1) -> np.ndarray:
    """The devices as a ``(data, fsdp, tensor)`` array; raises ``MeshError`` naming the config keys.

    One process: the devices in their given order (``jax.make_mesh`` may reorder them for the
    topology). Several: ordered by (process, device id), so each consecutive block of
    fsdp x tensor devices, one fsdp x tensor group, belongs to one process; this needs every process
    to hold the same number of devices, a multiple of fsdp x tensor.
    """
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
    per_process: dict[int, list] = {}
    for device in devices:
        per_process.setdefault(device.process_index, []).append(device)
    if len(per_process) == 1:
        return _object_array(devices).reshape(data, fsdp, tensor)
    counts = sorted({len(local) for local in per_process.values()})
    if len(counts) > 1:
        raise MeshError(
            f"the {len(per_process)} processes hold different numbers of devices ({', '.join(map(str, counts))}); "
            "a multi-node mesh (config.mesh) needs the same number on every node"
        )
    local = counts[0]
    if local % (fsdp * tensor):
        raise MeshError(
            f"config.mesh.fsdp={fsdp} x config.mesh.tensor={tensor} does not divide the {local} devices of each "
            f"of the {len(per_process)} processes: fsdp and tensor stay inside a node, only config.mesh.data "
            "spans nodes"
        )
    ordered = [d for p in sorted(per_process) for d in sorted(per_process[p], key=lambda d: d.id)]
    return _object_array(ordered).reshape(data, fsdp, tensor)


def _object_array(items) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = list(items)
    return array


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
