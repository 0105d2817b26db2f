"""Mesh sizes that do not fit the devices fail in one line naming the config keys."""

from __future__ import annotations

import jax
import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.parallel.mesh import make_mesh


def test_fsdp_that_does_not_divide_the_devices():
    n = len(jax.devices())
    with pytest.raises(UserError, match=rf"config\.mesh\.fsdp={n + 1} x config\.mesh\.tensor=1 does not divide the {n} devices"):
        make_mesh(fsdp=n + 1)


def test_explicit_sizes_that_miss_the_device_count():
    n = len(jax.devices())
    with pytest.raises(UserError, match=rf"config\.mesh\.data={n + 1} .* is not the {n} devices"):
        make_mesh(data=n + 1)
