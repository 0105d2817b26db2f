"""restore_params: a run's parameters into a model, with no optimizer and without moving files."""

from __future__ import annotations

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from mathpe_jax.run import restore_params
from mathpe_jax.train.checkpoint import Checkpoints


def model(seed: int) -> nnx.Linear:
    return nnx.Linear(3, 2, rngs=nnx.Rngs(seed))


def save(workdir, trained: nnx.Module, steps=(10,)) -> None:
    _, params, rngs, _ = nnx.split(trained, nnx.Param, nnx.RngState, ...)
    checkpoints = Checkpoints(workdir, every=1, keep=5)
    for step in steps:
        opt_state = {"mu": jax.tree.map(np.zeros_like, nnx.to_pure_dict(params))}
        checkpoints.save(step, {"params": {"params": params, "rngs": rngs}, "opt_state": opt_state})
    checkpoints.wait()
    checkpoints.close()


def test_loads_the_parameters_alone(tmp_path):
    trained = model(1)
    save(tmp_path, trained)
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / "10" / "opt_state")  # never read
    fresh = model(2)
    assert not np.allclose(fresh.kernel[...], trained.kernel[...])
    assert restore_params(tmp_path, fresh) == 10
    np.testing.assert_array_equal(fresh.kernel[...], trained.kernel[...])
    np.testing.assert_array_equal(fresh.bias[...], trained.bias[...])


def test_a_run_without_checkpoints_gives_step_zero(tmp_path):
    assert restore_params(tmp_path, model(0)) == 0
    assert not (tmp_path / "checkpoints").exists()


def test_a_corrupt_newest_step_is_skipped_and_left_in_place(tmp_path):
    save(tmp_path, model(1), steps=(10, 20))
    for f in (tmp_path / "checkpoints" / "20").rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage")
    assert restore_params(tmp_path, model(2)) == 10
    assert (tmp_path / "checkpoints" / "20").is_dir() and not (tmp_path / "checkpoints_corrupt").exists()


def test_params_item_restores_with_plain_orbax(tmp_path):
    save(tmp_path, model(1))
    restored = ocp.StandardCheckpointer().restore(tmp_path / "checkpoints" / "10" / "params")
    assert set(restored) == {"params", "rngs"}
