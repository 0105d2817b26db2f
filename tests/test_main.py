"""End-to-end: every PE config trains, evaluates and writes the run directory."""

from __future__ import annotations

import json

import pytest

from mathpe_jax.main import run
from tests.helpers_run import run_main, tiny_config

PES = ["sinusoidal", "rope", "alibi", "diet", "t5", "nope"]


@pytest.mark.parametrize("name", PES)
def test_short_run_writes_the_run_directory(name, tmp_path):
    results = run(tiny_config(name), tmp_path, "train")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["config"] == name and on_disk["pe"] == name and on_disk["task"] == "addition"
    assert on_disk["step"] == 20 and on_disk["params"] > 0
    assert on_disk["train"]["final_loss"] > 0 and on_disk["train"]["tokens_per_second"] > 0
    assert on_disk["eval"]["in_distribution"]["n"] == 16
    assert set(on_disk["eval"]["by_length"]) == {"1", "2", "3"}
    assert json.loads((tmp_path / "config.json").read_text())["model"]["pe"]["name"] == name
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10, 15, 20]
    assert {"loss", "lr", "grad_norm", "tokens_per_second"} <= set(json.loads(lines[-1]))
    assert any((tmp_path / "tensorboard").iterdir())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["10", "20"]


def test_eval_mode_reevaluates_the_latest_checkpoint(tmp_path):
    first = run(tiny_config("alibi"), tmp_path, "train")
    again = run(tiny_config("alibi"), tmp_path, "eval")
    assert again["step"] == first["step"] == 20
    assert again["eval"]["by_length"] == first["eval"]["by_length"] and again["train"] == first["train"]


def test_a_changed_config_does_not_resume_a_run_it_does_not_fit(tmp_path):
    run(tiny_config("alibi", **{"train.steps": 10}), tmp_path, "train")
    done = run_main(tmp_path, "alibi", **{"model.width": 64})
    assert done.returncode != 0
    assert "does not fit this model" in done.stderr.strip().splitlines()[-1]
    assert (tmp_path / "checkpoints" / "10").is_dir()


def test_command_line_reports_a_bad_config_in_one_line(tmp_path):
    done = run_main(tmp_path, **{"model.num_kv_heads": 3})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == "error: config.model.num_kv_heads=3: must divide model.num_heads=2"
