"""Interrupted runs resume to the same result as uninterrupted ones.

Tolerance: exact equality. A resumed run restores the parameters and the optimizer state bit for
bit, sees the same batches (a function of seed and step) and runs the same compiled program on
the same CPU, so nothing can differ.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.conftest import REPO_ROOT
from tests.helpers_run import main_command, run_main

STEPS = 300  # long enough that a kill after the first checkpoint lands mid-run


def final_params(workdir: Path, step: int) -> dict:
    restored = ocp.StandardCheckpointer().restore(workdir / "checkpoints" / str(step) / "params")
    return restored["params"]


def assert_same_run(a: Path, b: Path) -> None:
    ra, rb = (json.loads((w / "results.json").read_text()) for w in (a, b))
    for r in (ra, rb):
        r["eval"].pop("efficiency")  # timings: the only part of the results that may differ
    assert ra["eval"] == rb["eval"]
    assert ra["train"]["final_loss"] == rb["train"]["final_loss"]
    import jax

    pa, pb = final_params(a, STEPS), final_params(b, STEPS)
    for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb), strict=True):
        np.testing.assert_array_equal(x, y)


def start_and_wait_for_checkpoint(workdir: Path, **overrides) -> subprocess.Popen:
    proc = subprocess.Popen(
        main_command(workdir, **overrides), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    first = workdir / "checkpoints" / "10"
    deadline = time.time() + 240
    while not first.exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    return proc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("full")
    done = run_main(workdir, **{"train.steps": STEPS})
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, uninterrupted):
    proc = start_and_wait_for_checkpoint(tmp_path, **{"train.steps": STEPS})
    proc.kill()
    proc.wait()
    assert not (tmp_path / "results.json").exists()
    again = run_main(tmp_path, **{"train.steps": STEPS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from checkpoint step" in again.stderr
    assert_same_run(tmp_path, uninterrupted)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # one line per logged step after the resume


def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path, uninterrupted):
    proc = start_and_wait_for_checkpoint(tmp_path, **{"train.steps": STEPS})
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and saved[-1] < STEPS
    assert proc.returncode == 143, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == f"stopped by SIGTERM at step {saved[-1]}; rerun the same command to resume"
    assert not (tmp_path / "results.json").exists()
    again = run_main(tmp_path, **{"train.steps": STEPS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from checkpoint step {saved[-1]}" in again.stderr
    assert_same_run(tmp_path, uninterrupted)
    train_time = json.loads((tmp_path / "train_time.json").read_text())
    assert train_time["segments"] == 2
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["provenance"]["train_seconds_total"] == train_time["seconds"] > results["train"]["wall_seconds"]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted):
    import shutil

    shutil.copytree(uninterrupted, tmp_path / "run")
    run = tmp_path / "run"
    params = [f for f in (run / "checkpoints" / str(STEPS) / "params").rglob("*") if f.is_file()]
    os.truncate(max(params, key=lambda f: f.stat().st_size), 100)  # a copy that lost its tail
    (run / "results.json").unlink()
    again = run_main(run, **{"train.steps": STEPS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"checkpoint step {STEPS} in {run / 'checkpoints'} is unreadable" in again.stderr
    assert "Traceback" not in again.stderr, again.stderr[-3000:]  # Orbax's failed reads are not echoed
    assert (run / "checkpoints_corrupt" / str(STEPS)).is_dir()
    assert f"resumed from checkpoint step {STEPS - 10}" in again.stderr
    assert_same_run(run, uninterrupted)


@pytest.mark.parametrize("pe", ["abacus", "abacus_fire"])
def test_a_pe_that_draws_in_training_resumes_with_its_stream(pe, tmp_path):
    """Abacus (alone or inside Abacus + FIRE) draws a random offset every step from a stream the training state carries: a run
    resumed from its step-3 checkpoint ends at step 6 with the parameters it had without the stop."""
    import shutil

    import jax

    from mathpe_jax import build
    from mathpe_jax.parallel.mesh import mesh_from_config
    from mathpe_jax.train.trainer import train
    from tests.helpers_run import tiny_config

    config = tiny_config(pe, **{"train.steps": 6, "train.checkpoint_every": 3, "train.log_every": 3,
                                      "train.warmup_steps": 1})

    def run(workdir: Path):
        tokenizer = build.build_tokenizer(config, workdir)
        mesh = mesh_from_config(config.mesh)
        model = build.build_model(config, tokenizer, mesh)
        with jax.set_mesh(mesh):
            train(model, build.batch_fn(config, tokenizer), dict(config.train), workdir, mesh)
        return final_params(workdir, 6)

    straight = run(tmp_path / "straight")
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "6")
    resumed = run(tmp_path / "resumed")
    for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
