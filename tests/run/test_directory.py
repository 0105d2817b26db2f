"""The run directory: one config for a run's whole life, checked before anything is written; one
process at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run import (
    ALLOWED_CHANGES,
    ConfigChanged,
    RunDir,
    RunLocked,
    WorkdirUnusable,
    first_difference,
    saved_config,
)
from mathpe_jax.run.layout import with_added_keys

CONFIG = {
    "name": "rope",
    "seed": 0,
    "model": {"width": 32, "pe": {"name": "rope"}},
    "task": {"name": "copy", "train_lengths": [1, 2]},
    "train": {"steps": 20, "log_every": 5},
    "eval": {"limit": 0},
}


def changed(**dotted):
    config = json.loads(json.dumps(CONFIG))
    for key, value in dotted.items():
        *parents, leaf = key.split("__")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def snapshot(directory):
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def test_allowed_changes_pass_and_others_name_the_first_key():
    assert first_difference(changed(train__steps=40, train__log_every=1, eval__limit=3), CONFIG, ALLOWED_CHANGES) is None
    assert first_difference(changed(train__steps=10), CONFIG, ALLOWED_CHANGES) == ("train.steps", 10, 20)
    assert first_difference(changed(seed=1), CONFIG, ALLOWED_CHANGES) == ("seed", 1, 0)
    # The label is compared last: the message names what really differs.
    assert first_difference(changed(name="alibi", model__pe={"name": "alibi"}), CONFIG, ALLOWED_CHANGES) == (
        "model.pe.name", "alibi", "rope",
    )
    assert first_difference(changed(name="other"), CONFIG, ALLOWED_CHANGES) == ("name", "other", "rope")
    assert first_difference(changed(eval__limit=3), CONFIG, ("eval.*",)) is None
    assert first_difference(changed(train__steps=40), CONFIG, ("eval.*",)) == ("train.steps", 40, 20)


def test_tuples_compare_equal_to_the_lists_config_json_holds(tmp_path):
    from ml_collections import ConfigDict

    config = ConfigDict(CONFIG)
    config.task.train_lengths = (1, 2)
    run = RunDir(tmp_path / "run")
    run.create(config)
    run.check_config(config)


def test_config_json_is_written_once(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create(CONFIG)
    before = (tmp_path / "run" / "config.json").read_bytes()
    run.create(changed(train__steps=40, eval__limit=5))
    assert (tmp_path / "run" / "config.json").read_bytes() == before
    assert saved_config(tmp_path / "run").to_dict() == with_added_keys(CONFIG)


def test_a_differing_config_is_refused_in_one_line_and_writes_nothing(tmp_path):
    RunDir(tmp_path / "run").create(CONFIG)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigChanged) as refused:
        RunDir(tmp_path / "run").check_config(changed(model__pe={"name": "alibi"}))
    assert str(refused.value) == (
        f"config.model.pe.name='alibi' differs from the run's 'rope' ({tmp_path / 'run' / 'config.json'}); "
        "use a new --workdir"
    )
    with pytest.raises(ConfigChanged, match=r"^config\.train\.steps=10 differs from the run's 20 .*may only grow"):
        RunDir(tmp_path / "run").create(changed(train__steps=10))
    assert snapshot(tmp_path) == before
    assert issubclass(ConfigChanged, UserError)


def test_a_workdir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkdirUnusable, match=r"^--workdir .*file is a file, not a directory$"):
        RunDir(tmp_path / "file").create(CONFIG)
    with pytest.raises(WorkdirUnusable, match="is a file"):
        RunDir(tmp_path / "file" / "run").create(CONFIG)


def test_saved_config_of_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(WorkdirUnusable, match=r"is not a run directory \(no config\.json\)"):
        saved_config(tmp_path)


@pytest.mark.parametrize("text,kind", [("[1, 2]", "list"), ('"rope"', "str"), ("null", "NoneType")])
def test_a_config_json_that_is_not_an_object_is_refused_in_one_line(tmp_path, text, kind):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(WorkdirUnusable, match=rf"config\.json holds a JSON {kind}, not a run's config"):
        saved_config(tmp_path)
    with pytest.raises(WorkdirUnusable, match=f"holds a JSON {kind}"):
        RunDir(tmp_path).create(CONFIG)


HOLD_LOCK = """
import sys, time
from mathpe_jax.run import RunDir
RunDir(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_process_is_refused_while_the_first_holds_the_run(tmp_path):
    from tests.conftest import REPO_ROOT

    workdir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(workdir)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked) as refused:
            RunDir(workdir).create(CONFIG)
        assert str(refused.value) == f"run directory {workdir} is in use by process {holder.pid}"
    finally:
        holder.kill()
        holder.wait()
    deadline = time.time() + 10
    while True:  # the lock goes with the process that held it
        try:
            RunDir(workdir).create(CONFIG)
            break
        except RunLocked:
            assert time.time() < deadline
            time.sleep(0.05)
    assert (workdir / "config.json").is_file()


def test_a_workdir_that_cannot_be_written_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # Mode bits do not stop root; the immutable attribute does, for root too.
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        with pytest.raises(WorkdirUnusable, match=r"is not writable"):
            RunDir(locked / "run").create(CONFIG)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)


def test_a_run_saved_before_a_key_existed_resumes_when_the_key_keeps_the_old_behaviour():
    assert first_difference(changed(train__positions="sequential"), CONFIG, ALLOWED_CHANGES) is None
    assert first_difference(changed(train__positions="randomized"), CONFIG, ALLOWED_CHANGES) == (
        "train.positions", "randomized", "<absent>",
    )
    assert first_difference(changed(task__spaces_around_numbers=0), CONFIG, ALLOWED_CHANGES) is None
    assert first_difference(changed(model__pe__offset_per="batch"), CONFIG, ALLOWED_CHANGES) is None
    assert first_difference(changed(model__pe__offset_per="example"), CONFIG, ALLOWED_CHANGES) == (
        "model.pe.offset_per", "example", "<absent>",
    )


def test_options_kept_for_other_pes_never_block_a_resume():
    """A preset that gains an arm (``model.pe_by_name.abacus_fire``) still resumes its RoPE runs;
    the run's own PE options are compared as before."""
    saved = changed(model__pe_by_name={"rope": {"base": 10000.0}})
    added_arm = changed(model__pe_by_name={"rope": {"base": 10000.0}, "abacus_fire": {"hidden": 32}})
    assert first_difference(added_arm, saved, ALLOWED_CHANGES) is None
    assert first_difference(saved, added_arm, ALLOWED_CHANGES) is None
    own_changed = changed(model__pe_by_name={"rope": {"base": 500.0}})
    assert first_difference(own_changed, saved, ALLOWED_CHANGES) == ("model.pe_by_name.rope.base", 500.0, 10000.0)
    switched = changed(name="abacus_fire", model__pe={"name": "abacus_fire"},
                       model__pe_by_name={"rope": {"base": 10000.0}, "abacus_fire": {"hidden": 32}})
    assert first_difference(switched, saved, ALLOWED_CHANGES)[0] == "model.pe.name"


def test_a_run_saved_before_a_key_existed_reads_it_with_the_value_it_had(tmp_path):
    """Read sites use plain attribute access: the saved config comes back with the added keys,
    config.json stays as written, and a command that asks for another value is refused naming it."""
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    config = saved_config(tmp_path)
    assert config.train.positions == "sequential" and config.model.remat == "none" and config.eval.step == 0
    assert "offset_per" not in config.model.pe  # a PE option is the PE's own default, never filled in
    assert json.loads((tmp_path / "config.json").read_text()) == CONFIG
    RunDir(tmp_path).check_config(CONFIG)  # the old command, without the keys, still matches
    RunDir(tmp_path).check_config(config)  # and so does the config as read
    with pytest.raises(ConfigChanged, match=r"^config\.train\.positions='randomized' differs from the run's 'sequential' "):
        RunDir(tmp_path).check_config(changed(train__positions="randomized"))
