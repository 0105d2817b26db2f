"""A sweep's plan: presets expand to their PEs, every override is checked before anything runs,
and a sweep directory keeps one study: it may gain arms and seeds, and refuses a plan that drops or
changes any part of the study it holds."""

from __future__ import annotations

import json

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import SWEEP
from mathpe_jax.sweep.plan import PlannedRun, check_plan, expand_configs, plan_runs, read_plan, record_plan
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


def test_record_adds_arms_and_seeds_to_the_study(tmp_path):
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0], tmp_path))
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0, 1], tmp_path))  # more seeds
    record_plan(tmp_path, plan_runs(["configs/rope.py", "configs/nope.py"], [0, 1], tmp_path))  # an arm more
    assert sorted(read_plan(tmp_path)) == ["nope/seed0", "nope/seed1", "rope/seed0", "rope/seed1"]


@pytest.mark.parametrize(
    ("configs", "seeds", "overrides", "message"),
    [
        (["configs/nope.py"], [0, 1], [], r"holds arm 'rope' \(configs/rope.py\), which --configs leaves out"),
        (["configs/rope.py"], [0], [], "holds seed 1 of arm 'rope', which --seeds 1 leaves out"),
        (["configs/rope.py"], [0, 1], ["--config.train.steps=9"],
         r"run rope/seed0 was planned with overrides=\[\], now \['--config.train.steps=9'\]"),
    ],
    ids=["arm", "seeds", "args"],
)
def test_a_plan_that_drops_or_changes_part_of_the_study_is_refused(tmp_path, configs, seeds, overrides, message):
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0, 1], tmp_path))
    before = (tmp_path / SWEEP).read_text()
    with pytest.raises(UserError, match=f"^{tmp_path / SWEEP}: .*{message}; use another --out for a different study$"):
        record_plan(tmp_path, plan_runs(configs, seeds, tmp_path, overrides))
    assert (tmp_path / SWEEP).read_text() == before


def test_an_arm_from_another_config_file_is_refused(tmp_path):
    record_plan(tmp_path, plan_runs(["configs/rope.py"], [0], tmp_path))
    elsewhere = PlannedRun("rope", "configs/experiments/copy_cpu.py:rope", 0, (), tmp_path / "rope" / "seed0")
    with pytest.raises(UserError, match="run rope/seed0 was planned with config='configs/rope.py', now 'configs/experiments"):
        check_plan(tmp_path, [elsewhere])


def test_corrupt_record_is_named(tmp_path):
    (tmp_path / SWEEP).write_text("{")
    with pytest.raises(UserError, match=f"{SWEEP}: not a sweep record"):
        read_plan(tmp_path)


def test_the_same_sweep_named_relatively_or_absolutely_is_one_record(tmp_path, monkeypatch):
    config = str(REPO_ROOT / "configs" / "rope.py")
    record_plan(tmp_path / "out", plan_runs([config], [0], tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    record_plan("out", plan_runs([config], [0], "out"))  # no conflict: the workdir is kept relative
    assert read_plan(tmp_path / "out")["rope/seed0"]["workdir"] == "rope/seed0"
