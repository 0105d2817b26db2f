"""A sweep's plan: presets expand to their PEs, every override is checked before anything runs,
and a sweep directory refuses a second study under the same run names."""

from __future__ import annotations

import json

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.sweep.plan import MANIFEST, expand_configs, plan_runs, read_plan, record_plan
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)


def test_preset_expands_to_its_pes_and_plain_files_stay():
    expanded = expand_configs(["configs/experiments/copy_cpu.py", "configs/rope.py", "configs/experiments/copy.py:t5"])
    pes = ("sinusoidal", "rope", "alibi", "diet", "t5", "nope")
    assert expanded == [f"configs/experiments/copy_cpu.py:{pe}" for pe in pes] + ["configs/rope.py", "configs/experiments/copy.py:t5"]


def test_runs_are_named_by_config_and_seed(tmp_path):
    runs = plan_runs(["configs/rope.py", "configs/nope.py"], [0, 1], tmp_path, ["--config.train.steps=7"])
    assert [r.key for r in runs] == ["rope/seed0", "rope/seed1", "nope/seed0", "nope/seed1"]
    assert runs[1].workdir == tmp_path / "rope" / "seed1"
    assert runs[1].arguments() == ["--config=configs/rope.py", f"--workdir={tmp_path / 'rope' / 'seed1'}",
                                   "--config.seed=1", "--config.train.steps=7"]


@pytest.mark.parametrize(
    ("configs", "overrides", "message"),
    [
        (["configs/rope.py"], ["--config.train.stepz=3"], "did you mean --config.train.steps"),
        (["configs/rope.py"], ["--config.seed=3"], "use --seeds"),
        (["configs/rope.py"], ["--train.steps=3"], "--config.KEY=VALUE"),
        (["configs/missing.py"], [], "config file not found: configs/missing.py"),
        (["configs/rope.py", "configs/rope.py"], [], "share the name 'rope'"),
        (["configs/experiments/copy_cpu.py:bogus"], [], "unknown PE 'bogus'"),
    ],
)
def test_bad_plans_are_one_line_errors(tmp_path, configs, overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")) as error:
        plan_runs(configs, [0], tmp_path, overrides)
    assert "\n" not in str(error.value)


def test_record_adds_runs_and_refuses_another_study_in_the_same_directory(tmp_path):
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0], tmp_path))
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0, 1], tmp_path))  # more seeds: fine
    assert sorted(read_plan(tmp_path)) == ["rope/seed0", "rope/seed1"]
    with pytest.raises(UserError, match=r"rope/seed0 was planned with overrides=\[\], now \['--config.train.steps=9'\]"):
        record_plan(tmp_path, plan_runs(["configs/rope.py"], [0], tmp_path, ["--config.train.steps=9"]))
    assert json.loads((tmp_path / MANIFEST).read_text())["runs"]["rope/seed0"]["overrides"] == []


def test_corrupt_record_is_named(tmp_path):
    (tmp_path / MANIFEST).write_text("{")
    with pytest.raises(UserError, match=f"{MANIFEST}: not a sweep record"):
        read_plan(tmp_path)


def test_the_same_sweep_named_relatively_or_absolutely_is_one_record(tmp_path, monkeypatch):
    config = str(REPO_ROOT / "configs" / "rope.py")
    record_plan(tmp_path / "out", plan_runs([config], [0], tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    record_plan("out", plan_runs([config], [0], "out"))  # no conflict: the workdir is kept relative
    assert read_plan(tmp_path / "out")["rope/seed0"]["workdir"] == "rope/seed0"
