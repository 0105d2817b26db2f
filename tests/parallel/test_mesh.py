"""Mesh sizes that do not fit the devices fail in one line naming the config keys; across processes
the fsdp and tensor groups stay inside one process (node)."""

from __future__ import annotations

import jax
import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.parallel.mesh import device_grid, make_mesh


def test_fsdp_that_does_not_divide_the_devices():
    n = len(jax.devices())
    with pytest.raises(UserError, match=rf"config\.mesh\.fsdp={n + 1} x config\.mesh\.tensor=1 does not divide the {n} devices"):
        make_mesh(fsdp=n + 1)


def test_explicit_sizes_that_miss_the_device_count():
    n = len(jax.devices())
    with pytest.raises(UserError, match=rf"config\.mesh\.data={n + 1} .* is not the {n} devices"):
        make_mesh(data=n + 1)


class FakeDevice:
    """What the mesh reads of a device: its id and the process that holds it."""

    def __init__(self, id: int, process_index: int) -> None:
        self.id, self.process_index = id, process_index

    def __repr__(self) -> str:
        return f"d{self.id}@p{self.process_index}"


def interleaved(processes: int, local: int) -> list[FakeDevice]:
    """Devices of several processes, listed alternately so that a plain reshape would mix them."""
    return [FakeDevice(p * local + i, p) for i in range(local) for p in range(processes)]


@pytest.mark.parametrize("fsdp, tensor", [(2, 2), (4, 1), (1, 4), (2, 1), (1, 1)])
def test_fsdp_and_tensor_groups_stay_inside_one_process(fsdp, tensor):
    grid = device_grid(interleaved(2, 4), -1, fsdp, tensor)
    assert grid.shape == (8 // (fsdp * tensor), fsdp, tensor)
    for group in grid:  # one data index: the fsdp x tensor devices that exchange parameters
        assert len({d.process_index for d in group.flat}) == 1, grid
    assert sorted(d.id for d in grid.flat) == list(range(8))
    assert {d.process_index for d in grid[:, 0, 0]} == {0, 1}  # the data axis spans the processes


def test_one_process_keeps_the_given_order():
    devices = [FakeDevice(i, 0) for i in (3, 1, 2, 0)]
    assert [d.id for d in device_grid(devices, -1, 2, 1).flat] == [3, 1, 2, 0]


def test_a_group_larger_than_a_node_names_the_keys():
    with pytest.raises(UserError, match=r"config\.mesh\.fsdp=8 x config\.mesh\.tensor=1 does not divide the 4 devices "
                                        r"of each of the 2 processes.*only config\.mesh\.data spans nodes"):
        device_grid(interleaved(2, 4), -1, 8, 1)
    with pytest.raises(UserError, match=r"config\.mesh\.fsdp=2 x config\.mesh\.tensor=2 does not divide the 6 devices "
                                        r"of each of the 2 processes"):
        device_grid(interleaved(2, 6), 3, 2, 2)


def test_nodes_with_different_device_counts():
    devices = interleaved(2, 2) + [FakeDevice(9, 1), FakeDevice(10, 1)]
    with pytest.raises(UserError, match=r"different numbers of devices \(2, 4\).*config\.mesh"):
        device_grid(devices, -1, 1, 1)


def test_single_process_mesh_is_unchanged():
    mesh = make_mesh()
    assert mesh.axis_names == ("data", "fsdp", "tensor")
    assert mesh.devices.shape == (len(jax.devices()), 1, 1)
