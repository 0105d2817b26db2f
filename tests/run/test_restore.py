"""restore_params: a run's parameters into a model, with no optimizer; its final step unless asked for another."""

from __future__ import annotations

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from mathpe_jax.errors import UserError
from mathpe_jax.run import restore_params
from mathpe_jax.run.checkpoint import CheckpointUnreadable, Checkpoints


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


def corrupt(step_dir) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage")


def test_a_corrupt_final_step_is_refused_by_name_and_left_in_place(tmp_path):
    """Evaluating an older model under the run's name would mislabel it: the caller is told."""
    save(tmp_path, model(1), steps=(10, 20))
    corrupt(tmp_path / "checkpoints" / "20")
    with pytest.raises(CheckpointUnreadable, match=r"step 20 .* unreadable.*--config.eval.step=10") as caught:
        restore_params(tmp_path, model(2))
    assert caught.value.step == 20
    assert (tmp_path / "checkpoints" / "20").is_dir() and not (tmp_path / "checkpoints_corrupt").exists()


def test_an_older_step_is_restored_when_asked_for(tmp_path):
    trained = model(1)
    save(tmp_path, trained, steps=(10,))
    save(tmp_path, model(3), steps=(20,))
    corrupt(tmp_path / "checkpoints" / "20")
    fresh = model(2)
    assert restore_params(tmp_path, fresh, step=10) == 10
    np.testing.assert_array_equal(fresh.kernel[...], trained.kernel[...])
    with pytest.raises(UserError, match="no checkpoint step 15"):
        restore_params(tmp_path, fresh, step=15)


def test_quarantine_moves_the_corrupt_step_aside_and_it_stays_the_final_one(tmp_path):
    save(tmp_path, model(1), steps=(10, 20))
    corrupt(tmp_path / "checkpoints" / "20")
    with pytest.raises(CheckpointUnreadable, match="moved to"):
        restore_params(tmp_path, model(2), quarantine=True)
    assert (tmp_path / "checkpoints_corrupt" / "20").is_dir() and not (tmp_path / "checkpoints" / "20").exists()
    # A second evaluation does not quietly take step 10 for the run's final model.
    with pytest.raises(CheckpointUnreadable, match="step 20 .* was moved to checkpoints_corrupt/"):
        restore_params(tmp_path, model(2), quarantine=True)
    assert restore_params(tmp_path, model(2), step=10) == 10


def test_params_item_restores_with_plain_orbax(tmp_path):
    save(tmp_path, model(1))
    restored = ocp.StandardCheckpointer().restore(tmp_path / "checkpoints" / "10" / "params")
    assert set(restored) == {"params", "rngs"}
