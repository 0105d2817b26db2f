import jax
import numpy as np
import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run.checkpoint import CheckpointMismatch, Checkpoints, OldCheckpointLayout


def items(n: int = 3, value: float = 1.0):
    return {
        "params": {"w": np.full((n,), value, np.float32)},
        "opt_state": {"mu": np.full((n,), -value, np.float32), "count": np.asarray(int(value), np.int32)},
    }


def abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def saved(tmp_path, steps=(10, 20)):
    ckpt = Checkpoints(tmp_path, every=10, keep=5)
    for step in steps:
        ckpt.save(step, items(value=float(step)))
    ckpt.wait()
    return ckpt


def corrupt(directory):
    for f in directory.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00not a checkpoint")


def test_saves_only_on_multiples_of_every_unless_forced(tmp_path):
    ckpt = Checkpoints(tmp_path, every=10, keep=5)
    assert not ckpt.save(5, items())
    assert ckpt.save(5, items(), force=True)
    assert ckpt.save(10, items())
    assert not ckpt.save(10, items(), force=True)  # already saved
    ckpt.wait()
    assert ckpt.manager.all_steps() == [5, 10]


def test_items_are_saved_side_by_side(tmp_path):
    saved(tmp_path, steps=(10,))
    step_dir = tmp_path / "checkpoints" / "10"
    assert (step_dir / "params").is_dir() and (step_dir / "opt_state").is_dir()
    assert not (step_dir / "default").exists()


def test_restores_the_newest_step(tmp_path):
    step, restored = saved(tmp_path).restore_latest(abstract(items()))
    assert step == 20
    np.testing.assert_array_equal(restored["params"]["w"], np.full((3,), 20.0))
    np.testing.assert_array_equal(restored["opt_state"]["mu"], np.full((3,), -20.0))


def test_restores_one_item_alone(tmp_path):
    step, restored = saved(tmp_path).restore_latest({"params": abstract(items()["params"])}, quarantine=False)
    assert step == 20 and set(restored) == {"params"}
    np.testing.assert_array_equal(restored["params"]["w"], np.full((3,), 20.0))


def test_corrupt_newest_step_is_moved_aside_and_the_previous_one_used(tmp_path):
    ckpt = saved(tmp_path)
    corrupt(tmp_path / "checkpoints" / "20")
    step, restored = ckpt.restore_latest(abstract(items()))
    assert step == 10 and float(restored["params"]["w"][0]) == 10.0
    assert (tmp_path / "checkpoints_corrupt" / "20").is_dir()
    assert not (tmp_path / "checkpoints" / "20").exists()


def test_read_only_restore_skips_a_corrupt_step_without_moving_it(tmp_path):
    ckpt = saved(tmp_path)
    corrupt(tmp_path / "checkpoints" / "20")
    step, _ = ckpt.restore_latest(abstract(items()), quarantine=False)
    assert step == 10 and (tmp_path / "checkpoints" / "20").is_dir()


def test_a_checkpoint_of_another_model_raises_and_is_kept(tmp_path):
    ckpt = saved(tmp_path)
    with pytest.raises(CheckpointMismatch, match=r"params/w is \(3,\) there and \(4,\) here"):
        ckpt.restore_latest(abstract(items(n=4)))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["10", "20"]
    assert issubclass(CheckpointMismatch, UserError) and issubclass(CheckpointMismatch, ValueError)


def test_the_old_single_item_layout_is_named(tmp_path):
    import orbax.checkpoint as ocp

    manager = ocp.CheckpointManager(tmp_path / "checkpoints", options=ocp.CheckpointManagerOptions(create=True))
    manager.save(10, args=ocp.args.StandardSave(items()))
    manager.wait_until_finished()
    manager.close()
    with pytest.raises(OldCheckpointLayout, match=r"^checkpoint step 10 in .* has the old single-item layout"):
        Checkpoints(tmp_path).restore_latest(abstract(items()))
    assert (tmp_path / "checkpoints" / "10" / "default").is_dir()
