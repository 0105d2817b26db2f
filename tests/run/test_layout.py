"""The run directory's layout: one JSON reader that names a broken file, one atomic writer, the
state of a run read without taking its lock, and the keys added since a run was saved."""

from __future__ import annotations

import json
import os

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run import layout
from mathpe_jax.run.directory import RunDir


@pytest.mark.parametrize(
    "text,message",
    [
        ("{", r"config\.json is not valid JSON \(Expecting property name"),
        ("[1, 2]", r"config\.json holds a JSON list, not an object$"),
        ("\xff", r"config\.json is not valid JSON"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(layout.NotAJsonObject, match=message) as refused:
        layout.read_json_object(path)
    assert "\n" not in str(refused.value) and str(refused.value).startswith(str(path))
    assert isinstance(refused.value, UserError) and isinstance(refused.value, ValueError)
    assert layout.peek_json_object(path) is None


def test_a_missing_file_reads_as_none(tmp_path):
    assert layout.read_json_object(tmp_path / "results.json") is None
    assert layout.read_config(tmp_path) is None


def test_the_atomic_writer_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "results.json"
    layout.write_json_atomic(path, {"step": 1})
    layout.write_json_atomic(path, {"step": 2, "eval": {}})
    assert layout.read_json_object(path) == {"step": 2, "eval": {}}
    assert path.read_text() == json.dumps({"step": 2, "eval": {}}, indent=2) + "\n"
    layout.write_atomic(tmp_path / "report.pdf", b"%PDF")
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf", "results.json"]


def test_the_keys_added_since_are_filled_in_where_their_section_is(tmp_path):
    saved = {"model": {"pe": {"name": "rope"}}, "train": {"steps": 4, "positions": "randomized"}}
    filled = layout.with_added_keys(saved)
    assert filled["train"] == {"steps": 4, "positions": "randomized"}  # a saved value stays
    assert filled["model"] == {"pe": {"name": "rope"}, "sliding_window": 0, "remat": "none", "scan_layers": False}
    assert "task" not in filled and "eval" not in filled  # no section is made up
    assert saved == {"model": {"pe": {"name": "rope"}}, "train": {"steps": 4, "positions": "randomized"}}
    layout.write_json_atomic(tmp_path / layout.CONFIG, saved)
    assert layout.read_config(tmp_path) == filled


def test_a_runs_state_follows_its_files_and_its_lock(tmp_path):
    assert layout.run_state(tmp_path) == "new"
    (tmp_path / layout.CONFIG).write_text("{")  # half written
    assert layout.run_state(tmp_path) == "new"
    layout.write_json_atomic(tmp_path / layout.CONFIG, {"train": {"steps": 10}})
    assert layout.run_state(tmp_path) == "partial" and layout.lock_holder(tmp_path) is None
    run = RunDir(tmp_path)
    run.lock()
    try:
        assert layout.run_state(tmp_path) == "running"
        assert layout.lock_holder(tmp_path) == str(os.getpid())
    finally:
        run.release()
    layout.write_json_atomic(tmp_path / layout.RESULTS, {"step": 5, "eval": {}})
    assert layout.run_state(tmp_path) == "partial"  # evaluated before its last step
    layout.write_json_atomic(tmp_path / layout.RESULTS, {"step": 10, "eval": {}})
    assert layout.run_state(tmp_path) == "finished"
