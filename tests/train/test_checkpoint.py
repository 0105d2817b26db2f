import jax
import numpy as np
import pytest

from mathpe_jax.train.checkpoint import CheckpointMismatch, Checkpoints


def state(n: int = 3, value: float = 1.0):
    return {"step": np.zeros((), np.int32), "params": {"w": np.full((n,), value, np.float32)}}


def abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def saved(tmp_path, steps=(10, 20)):
    ckpt = Checkpoints(tmp_path, every=10, keep=5)
    for step in steps:
        ckpt.save(step, state(value=float(step)))
    ckpt.wait()
    return ckpt


def corrupt(directory):
    for f in directory.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00not a checkpoint")


def test_saves_only_on_multiples_of_every_unless_forced(tmp_path):
    ckpt = Checkpoints(tmp_path, every=10, keep=5)
    assert not ckpt.save(5, state())
    assert ckpt.save(5, state(), force=True)
    assert ckpt.save(10, state())
    assert not ckpt.save(10, state(), force=True)  # already saved
    ckpt.wait()
    assert ckpt.manager.all_steps() == [5, 10]


def test_restores_the_newest_step(tmp_path):
    step, restored = saved(tmp_path).restore_latest(abstract(state()))
    assert step == 20
    np.testing.assert_array_equal(restored["params"]["w"], np.full((3,), 20.0))


def test_corrupt_newest_step_is_moved_aside_and_the_previous_one_used(tmp_path):
    ckpt = saved(tmp_path)
    corrupt(tmp_path / "checkpoints" / "20")
    step, restored = ckpt.restore_latest(abstract(state()))
    assert step == 10 and float(restored["params"]["w"][0]) == 10.0
    assert (tmp_path / "checkpoints_corrupt" / "20").is_dir()
    assert not (tmp_path / "checkpoints" / "20").exists()


def test_read_only_restore_skips_a_corrupt_step_without_moving_it(tmp_path):
    ckpt = saved(tmp_path)
    corrupt(tmp_path / "checkpoints" / "20")
    step, _ = ckpt.restore_latest(abstract(state()), quarantine=False)
    assert step == 10 and (tmp_path / "checkpoints" / "20").is_dir()


def test_a_checkpoint_of_another_model_raises_and_is_kept(tmp_path):
    ckpt = saved(tmp_path)
    with pytest.raises(CheckpointMismatch, match=r"params/w is \(3,\) there and \(4,\) here"):
        ckpt.restore_latest(abstract(state(n=4)))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["10", "20"]
