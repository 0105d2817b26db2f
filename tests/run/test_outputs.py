"""An evaluation's files replace the previous ones as a unit: whatever point a process dies at,
the run shows the old evaluation or the new one, whole, once the next command has taken its lock."""

from __future__ import annotations

import os

import pytest

from mathpe_jax.run import WorkdirUnusable, layout, outputs

OLD = {"predictions.jsonl": "old predictions\n", "grid_predictions.jsonl": "old grid\n",
       "attention/attn_L0_H0.png": "old png", "results.json": '{"step": 10}\n'}
NEW = {"predictions.jsonl": "new predictions\n", "attention/attn_L1_H0.png": "new png",
       "results.json": '{"step": 20}\n'}


def write(directory, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)


def evaluation(workdir) -> dict[str, str]:
    """What a reader sees: the evaluation's files (the run's other files and the lock aside)."""
    seen = {}
    for name in outputs.EVALUATION_FILES:
        path = workdir / name
        for file in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
            seen[str(file.relative_to(workdir))] = file.read_text()
    return seen


@pytest.fixture
def run(tmp_path):
    write(tmp_path, {**OLD, "config.json": "{}", "metrics.jsonl": "{}\n"})
    return tmp_path


def stage_new(run):
    write(outputs.stage(run), NEW)


def test_commit_replaces_the_evaluation_and_removes_what_the_new_one_did_not_write(run):
    stage_new(run)
    outputs.commit(run)
    assert evaluation(run) == NEW  # the old grid and heatmap are gone: they described another evaluation
    assert (run / "config.json").read_text() == "{}" and (run / "metrics.jsonl").is_file()
    assert not (run / layout.EVAL_STAGING).exists() and not (run / layout.EVAL_COMMIT).exists()


def test_a_failure_before_the_commit_leaves_the_previous_evaluation(run):
    staging = outputs.stage(run)
    write(staging, {"predictions.jsonl": "new, half writ"})  # killed while writing
    outputs.recover(run)  # the next command on the run
    assert evaluation(run) == OLD and not staging.exists()
    outputs.stage(run)
    outputs.discard(run)  # an evaluation that raised
    assert evaluation(run) == OLD and not staging.exists()


# The commit of NEW over OLD renames five times: staging to commit, predictions, the old heatmaps
# aside, the new heatmaps, results.json.
@pytest.mark.parametrize("renames_before_death", range(5))
def test_a_process_killed_anywhere_in_the_commit_leaves_one_whole_evaluation(run, monkeypatch, renames_before_death):
    stage_new(run)
    real_replace, done = os.replace, []

    def dying_replace(src, dst):
        if len(done) == renames_before_death:
            raise KeyboardInterrupt("killed")  # nothing after this point runs, as under SIGKILL
        done.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        outputs.commit(run)
    monkeypatch.setattr(outputs.os, "replace", real_replace)
    outputs.recover(run)
    # Before the staging directory became the commit, the old evaluation stands; after, the new one.
    assert evaluation(run) == (OLD if renames_before_death == 0 else NEW)
    assert not (run / layout.EVAL_STAGING).exists() and not (run / layout.EVAL_COMMIT).exists()


def test_a_target_that_is_a_directory_is_refused_before_anything_moves(run):
    (run / "results.json").unlink()
    (run / "results.json").mkdir()
    with pytest.raises(WorkdirUnusable, match=r"results\.json is a directory"):
        outputs.stage(run)  # before any decoding is spent
    (run / "results.json").rmdir()
    stage_new(run)
    (run / "results.json").mkdir()  # made a directory while the evaluation ran
    with pytest.raises(WorkdirUnusable, match=r"results\.json is a directory, not a file .* previous evaluation is unchanged"):
        outputs.commit(run)
    assert (run / "predictions.jsonl").read_text() == OLD["predictions.jsonl"]
    outputs.discard(run)
    assert not (run / layout.EVAL_STAGING).exists()


def test_stage_clears_what_an_earlier_process_left(run):
    stage_new(run)
    assert outputs.stage(run).is_dir() and not any((run / layout.EVAL_STAGING).iterdir())
