"""results.json: atomic, sections merged, provenance stamped; training time summed over resumes."""

from __future__ import annotations

import json

from mathpe_jax.run import SCHEMA_VERSION, add_train_time, git_commit, read_results, train_seconds, write_results


def test_sections_merge_and_an_eval_rerun_replaces_only_eval(tmp_path):
    write_results(tmp_path, {"step": 20, "train": {"final_loss": 1.5}, "eval": {"accuracy": 0.1}})
    written = write_results(tmp_path, {"step": 20, "eval": {"accuracy": 0.2}})
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == written == read_results(tmp_path)
    assert on_disk["train"] == {"final_loss": 1.5} and on_disk["eval"] == {"accuracy": 0.2}
    assert not [p.name for p in tmp_path.iterdir() if p.name != "results.json"]  # no temporary left


def test_provenance(tmp_path):
    add_train_time(tmp_path, 2.5)
    results = write_results(tmp_path, {"eval": {}})
    assert results["schema_version"] == SCHEMA_VERSION
    provenance = results["provenance"]
    assert provenance["commit"] == git_commit() and len(provenance["commit"]) == 40  # tests run in a checkout
    assert provenance["timestamp"].endswith("+00:00")
    assert provenance["train_seconds_total"] == 2.5


def test_training_time_adds_up_over_resumes(tmp_path):
    assert train_seconds(tmp_path) == 0.0
    add_train_time(tmp_path, 10.0)
    assert add_train_time(tmp_path, 5.5) == train_seconds(tmp_path) == 15.5
    assert json.loads((tmp_path / "train_time.json").read_text())["segments"] == 2


def test_no_commit_outside_a_checkout(tmp_path):
    assert git_commit(tmp_path) is None
