"""Run directories found, read and grouped; unfinished runs skipped but named, broken ones named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mathpe_jax.analysis import Run, find_missing, find_runs, group_runs
from tests.analysis.helpers import write_run


def test_find_runs_reads_every_run_sorted_and_skips_unfinished_ones(tmp_path):
    write_run(tmp_path / "sweep" / "rope_s1", "rope", seed=1, verdicts=[True, False])
    write_run(tmp_path / "sweep" / "alibi_s0", "alibi", seed=0, verdicts=[True])
    write_run(tmp_path / "nested" / "deeper" / "rope_s0", "rope", seed=0, name="rope_long")
    training = tmp_path / "sweep" / "still_training"
    training.mkdir()
    (training / "config.json").write_text(json.dumps({"seed": 0}))

    runs = find_runs(tmp_path)

    assert [r.path.relative_to(tmp_path).as_posix() for r in runs] == [
        "nested/deeper/rope_s0",
        "sweep/alibi_s0",
        "sweep/rope_s1",
    ]
    first = runs[0]
    assert (first.label, first.group, first.seed, first.task) == ("rope", "rope_long", 0, "addition")
    assert first.results["eval"]["in_distribution"]["symbolic_accuracy"] == 1.0
    assert first.config["model"]["pe"]["name"] == "rope"
    assert [p["symbolic_correct"] for p in runs[2].predictions] == [True, False]
    assert runs[2].predictions[0]["id"] == "p0"


def test_find_missing_names_runs_begun_or_planned_without_results(tmp_path):
    write_run(tmp_path / "rope" / "seed0", "rope", seed=0)
    (tmp_path / "rope" / "seed1").mkdir(parents=True)
    (tmp_path / "rope" / "seed1" / "config.json").write_text("{}")  # begun, then failed or stopped
    (tmp_path / "rope" / "seed1" / ".eval-staging").mkdir()
    (tmp_path / "rope" / "seed1" / ".eval-staging" / "results.json").write_text("{}")  # an evaluation half written
    planned = {f"rope/seed{seed}": {"config": "configs/rope.py", "seed": seed, "overrides": []} for seed in (0, 1, 2)}
    (tmp_path / "sweep.json").write_text(json.dumps({"runs": planned}))  # seed 2 never started
    assert find_missing(tmp_path) == [tmp_path / "rope" / "seed1", tmp_path / "rope" / "seed2"]
    assert [run.path for run in find_runs(tmp_path)] == [tmp_path / "rope" / "seed0"]
    assert find_missing(tmp_path / "rope" / "seed0") == []


def test_predictions_are_read_on_first_use(tmp_path):
    run = Run.read(write_run(tmp_path / "r", "rope", seed=0, verdicts=[True]))
    (run.path / "predictions.jsonl").write_text('{"id": "late", "symbolic_correct": false}\n')
    assert [p["id"] for p in run.predictions] == ["late"]  # read now, not when the run was found
    (run.path / "predictions.jsonl").unlink()
    assert [p["id"] for p in run.predictions] == ["late"]  # and kept


def test_a_label_can_be_given_and_the_run_is_frozen(tmp_path):
    run = Run.read(write_run(tmp_path / "r", "rope", seed=3), label="rope-10k")
    assert (run.label, run.group) == ("rope-10k", "rope")
    with pytest.raises(AttributeError):
        run.label = "other"


def test_group_runs_by_label_or_by_config_name(tmp_path):
    write_run(tmp_path / "a", "rope", seed=2)
    write_run(tmp_path / "b", "rope", seed=0, name="rope_long")
    write_run(tmp_path / "c", "alibi", seed=1)
    runs = find_runs(tmp_path)

    by_pe = group_runs(runs)
    assert list(by_pe) == ["alibi", "rope"]
    assert [r.seed for r in by_pe["rope"]] == [0, 2]  # by seed, not by path
    by_config = group_runs(runs, by="group")
    assert {k: [r.path.name for r in v] for k, v in by_config.items()} == {
        "alibi": ["c"],
        "rope": ["a"],
        "rope_long": ["b"],
    }


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_a_malformed_results_file_is_one_line_naming_it(tmp_path, content):
    write_run(tmp_path / "good", "rope", seed=0)
    broken = write_run(tmp_path / "broken", "rope", seed=1)
    (broken / "results.json").write_text(content)
    with pytest.raises(ValueError) as error:
        find_runs(tmp_path)
    message = str(error.value)
    assert str(broken / "results.json") in message
    assert "\n" not in message


def test_a_config_without_the_pe_name_is_named(tmp_path):
    run = write_run(tmp_path / "r", "rope", seed=0)
    (run / "config.json").write_text(json.dumps({"seed": 0, "model": {}, "task": {"name": "addition"}}))
    with pytest.raises(ValueError, match=r"config\.json: no model\.pe$"):
        find_runs(tmp_path)


def test_a_bad_prediction_line_is_named_with_its_number(tmp_path):
    run = Run.read(write_run(tmp_path / "r", "rope", seed=0, verdicts=[True]))
    with (run.path / "predictions.jsonl").open("a") as out:
        out.write("{oops\n")
    with pytest.raises(ValueError, match=r"predictions\.jsonl:2: not JSON"):
        _ = run.predictions


def test_importing_analysis_loads_no_jax():
    """It reads files only, so it must run where JAX is not installed."""
    code = "import sys, mathpe_jax.analysis; print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'flax'}))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
