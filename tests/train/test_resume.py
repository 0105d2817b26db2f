"""Interrupted runs resume to the same result as uninterrupted ones.

Tolerance: exact equality. A resumed run restores the parameters and the optimizer state bit for
bit, sees the same batches (a function of seed and step) and runs the same compiled program on
the same CPU, so nothing can differ. The uninterrupted run is the session's ``trained_run``
(trained in-process: the same program as ``python -m mathpe_jax.main``); the runs that are killed
are real processes, their reruns calls of ``run`` here.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from mathpe_jax.main import SIGTERM_EXIT, run
from tests.conftest import REPO_ROOT
from tests.helpers_run import SLOWED_MAIN, TINY_OVERRIDES, main_command, run_main, tiny_config

STEPS = TINY_OVERRIDES["train.steps"]  # trained_run's: checkpoints at 10 and 20
FIRST_CHECKPOINT = TINY_OVERRIDES["train.checkpoint_every"]

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


def start_and_wait_for_checkpoint(workdir: Path) -> subprocess.Popen:
    """The tiny run in a process of its own, once its first checkpoint is on disk (its steps slowed)."""
    command = [sys.executable, "-c", SLOWED_MAIN, *main_command(workdir)[3:]]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = workdir / "checkpoints" / str(FIRST_CHECKPOINT)
    while not first.exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    return proc


def rerun(workdir: Path, caplog) -> str:
    """The same run resumed here, in-process; returns what it logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="absl"):
        run(tiny_config("rope"), workdir, "train")
    return caplog.text


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, trained_run, caplog):
    proc = start_and_wait_for_checkpoint(tmp_path)
    proc.kill()
    proc.wait()
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and saved[-1] < STEPS and not (tmp_path / "results.json").exists()
    assert f"resumed from checkpoint step {saved[-1]}" in rerun(tmp_path, caplog)
    assert_same_run(tmp_path, trained_run)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # one line per logged step after the resume


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path, trained_run, caplog):
    proc = start_and_wait_for_checkpoint(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert FIRST_CHECKPOINT < saved[-1] < STEPS  # saved on the way out, mid-run
    assert proc.returncode == SIGTERM_EXIT, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == f"stopped by SIGTERM at step {saved[-1]}; rerun the same command to resume"
    assert not (tmp_path / "results.json").exists()
    assert f"resumed from checkpoint step {saved[-1]}" in rerun(tmp_path, caplog)
    assert_same_run(tmp_path, trained_run)
    train_time = json.loads((tmp_path / "train_time.json").read_text())
    assert train_time["segments"] == 2
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["provenance"]["train_seconds_total"] == train_time["seconds"] > results["train"]["wall_seconds"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(run_copy, trained_run):
    """A real process: what is tested is what its stderr shows (one line, none of Orbax's tracebacks)."""
    params = [f for f in (run_copy / "checkpoints" / str(STEPS) / "params").rglob("*") if f.is_file()]
    os.truncate(max(params, key=lambda f: f.stat().st_size), 100)  # a copy that lost its tail
    (run_copy / "results.json").unlink()
    again = run_main(run_copy)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"checkpoint step {STEPS} in {run_copy / 'checkpoints'} is unreadable" in again.stderr
    assert "Traceback" not in again.stderr, again.stderr[-3000:]  # Orbax's failed reads are not echoed
    assert (run_copy / "checkpoints_corrupt" / str(STEPS)).is_dir()
    assert f"resumed from checkpoint step {FIRST_CHECKPOINT}" in again.stderr
    assert_same_run(run_copy, trained_run)


@pytest.mark.slow
@pytest.mark.parametrize("pe", ["abacus", "abacus_fire"])
def test_a_pe_that_draws_in_training_resumes_with_its_stream(pe, tmp_path):
    """Abacus (alone or inside Abacus + FIRE) draws a random offset every step from a stream the training state carries: a run
    resumed from its step-3 checkpoint ends at step 6 with the parameters it had without the stop."""
    import shutil

    import jax

    from mathpe_jax import build
    from mathpe_jax.parallel.mesh import mesh_from_config
    from mathpe_jax.train.trainer import train

    config = tiny_config(pe, **{"train.steps": 6, "train.checkpoint_every": 3, "train.log_every": 3,
                                      "train.warmup_steps": 1})

    def train_to_the_end(workdir: Path):
        tokenizer = build.build_tokenizer(config, workdir)
        mesh = mesh_from_config(config.mesh)
        model = build.build_model(config, tokenizer, mesh)
        with jax.set_mesh(mesh):
            train(model, build.batch_fn(config, tokenizer), dict(config.train), workdir, mesh)
        return final_params(workdir, 6)

    straight = train_to_the_end(tmp_path / "straight")
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "6")
    resumed = train_to_the_end(tmp_path / "resumed")
    for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
