"""What a run directory says of its run: the newest checkpoint a stopped run can resume from."""

from __future__ import annotations

from mathpe_jax.sweep.state import latest_checkpoint


def test_latest_checkpoint_is_the_newest_finished_save(tmp_path):
    assert latest_checkpoint(tmp_path) is None  # no checkpoints/ yet
    for name in ("10", "20", "30.orbax-checkpoint-tmp-1712"):  # the last is a save still being written
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    assert latest_checkpoint(tmp_path) == 20
