"""End-to-end: every PE config trains, evaluates and writes the run directory; a run keeps its
own config; every failure a user can fix ends in one line.

The run that eval mode and the refusals work on is the session's ``trained_run`` (RoPE on
addition), read-only, or ``run_copy`` where a test writes into it. A new interpreter only where
the process is what is tested: the command line's one-line errors, SIGTERM, a second process."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.main import SIGTERM_EXIT, eval_config, one_line, run
from mathpe_jax.run import ConfigChanged, RunLocked, WorkdirUnusable
from mathpe_jax.run.checkpoint import CheckpointUnreadable
from tests.conftest import REPO_ROOT, simulated_devices
from tests.helpers_run import run_command, run_main, tiny_config

def snapshot(directory):
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def eval_command(workdir, config: str = "t5", *overrides: str) -> list[str]:
    """The README's re-evaluation: ``--config`` names another file, which eval mode does not read."""
    return [sys.executable, "-m", "mathpe_jax.main", f"--config=configs/{config}.py", "--mode=eval",
            f"--workdir={workdir}", *overrides]


def assert_run_directory(workdir, name: str) -> None:
    """What a finished tiny run (``TINY_OVERRIDES``) of PE ``name`` leaves in ``workdir``."""
    on_disk = json.loads((workdir / "results.json").read_text())
    assert on_disk["config"] == name and on_disk["pe"] == name and on_disk["task"] == "addition"
    assert on_disk["step"] == 20 and on_disk["params"] > 0
    assert on_disk["train"]["final_loss"] > 0 and on_disk["train"]["tokens_per_second"] > 0
    assert on_disk["eval"]["in_distribution"]["n"] == 16
    assert set(on_disk["eval"]["by_length"]) == {"1", "2", "3"}
    assert on_disk["schema_version"] >= 2 and len(on_disk["provenance"]["commit"]) == 40
    assert on_disk["provenance"]["train_seconds_total"] == pytest.approx(on_disk["train"]["wall_seconds"])
    assert json.loads((workdir / "config.json").read_text())["model"]["pe"]["name"] == name
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10, 15, 20]
    assert {"loss", "lr", "grad_norm", "tokens_per_second"} <= set(json.loads(lines[-1]))
    assert any((workdir / "tensorboard").iterdir())
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["10", "20"]
    assert {p.name for p in (workdir / "checkpoints" / "20").iterdir() if p.is_dir()} == {"params", "opt_state"}


def test_a_run_writes_its_run_directory(trained_run):
    """The session's tiny run, trained by ``run`` as the command line does. The directory does not
    depend on the PE: each PE trains and decodes through the same code in ``tests/pe/test_plugin.py``."""
    assert_run_directory(trained_run, "rope")


def test_the_run_logs_its_evaluation_next_to_its_training_in_tensorboard(trained_run):
    from tests.run.test_tensorboard import hparams_session, read_events, summary_values

    workdir = trained_run
    values = summary_values(read_events(workdir / "tensorboard"))
    tags = {value.tag for _, value in values}
    assert {"loss", "eval/exact_match", "eval/by_length/3/exact_match", "_hparams_/session_start_info"} <= tags
    heatmaps = sorted(p.stem for p in (workdir / "attention").glob("*.png"))
    assert heatmaps and {f"attention/{stem}" for stem in heatmaps} <= tags
    start = hparams_session(values)["_hparams_/session_start_info"].session_start_info.hparams
    assert start["model.width"].number_value == 32


def test_eval_mode_reevaluates_the_latest_checkpoint(run_copy):
    first = json.loads((run_copy / "results.json").read_text())
    again = json.loads(json.dumps(run(tiny_config("rope"), run_copy, "eval")))
    assert again["step"] == first["step"] == 20
    assert again["eval"]["by_length"] == first["eval"]["by_length"] and again["train"] == first["train"]


def evaluation_files(workdir) -> dict:
    return {name: value for name, value in snapshot(workdir).items()
            if str(name).split("/")[0] in ("predictions.jsonl", "results.json", "attention")}


def test_an_evaluation_stopped_before_its_results_leaves_the_previous_one_whole(run_copy, monkeypatch):
    """SIGTERM (or a full disk) after the new predictions exist but before results.json: the run
    keeps the previous predictions, heatmaps and results together."""
    import mathpe_jax.main as main

    workdir = run_copy
    before = evaluation_files(workdir)

    def stopped(*args, **kwargs):
        raise main.Stopped()

    monkeypatch.setattr(main, "write_results", stopped)
    with pytest.raises(main.Stopped):
        run(tiny_config("rope", **{"eval.examples_per_length": 4}), workdir, "eval")
    assert evaluation_files(workdir) == before
    assert not (workdir / ".eval-staging").exists()


def test_a_results_json_that_cannot_be_replaced_fails_in_one_line_and_keeps_the_evaluation(run_copy):
    workdir = run_copy
    (workdir / "results.json").unlink()
    (workdir / "results.json").mkdir()
    predictions = (workdir / "predictions.jsonl").read_bytes()
    with pytest.raises(WorkdirUnusable, match=r"results\.json is a directory, not a file") as caught:
        run(tiny_config("rope", **{"eval.examples_per_length": 4}), workdir, "eval")
    assert "\n" not in one_line(caught.value)
    assert (workdir / "predictions.jsonl").read_bytes() == predictions


def corrupt_newest_params(workdir, step: int = 20) -> None:
    """Truncates the largest parameter file of ``step``, as a disk or copy that lost its tail would."""
    files = (workdir / "checkpoints" / str(step) / "params").rglob("*")
    largest = max((f for f in files if f.is_file()), key=lambda f: f.stat().st_size)
    os.truncate(largest, 100)


@pytest.mark.slow
def test_eval_mode_refuses_a_corrupt_final_checkpoint_and_takes_an_older_one_only_when_asked(run_copy):
    workdir = run_copy
    corrupt_newest_params(workdir)
    before = evaluation_files(workdir)
    config = tiny_config("rope")
    with pytest.raises(CheckpointUnreadable, match=r"step 20 .* unreadable .*moved to .*--config\.eval\.step=10"):
        run(config, workdir, "eval")
    assert (workdir / "checkpoints_corrupt" / "20").is_dir()  # moved aside, as on resume
    assert evaluation_files(workdir) == before
    with pytest.raises(CheckpointUnreadable, match=r"step 20 .* was moved to checkpoints_corrupt/"):
        run(config, workdir, "eval")  # a second try does not take step 10 for the run's final model
    results = run(tiny_config("rope", **{"eval.step": 10}), workdir, "eval")
    assert results["step"] == 10 and results["train"]["step"] == 20  # each labelled with its own step
    with pytest.raises(UserError, match=r"^config\.eval\.step=10 is for --mode=eval"):
        run(tiny_config("rope", **{"eval.step": 10}), workdir, "train")


@pytest.mark.slow
def test_inference_refuses_a_run_whose_final_checkpoint_is_corrupt_and_moves_nothing(run_copy):
    from mathpe_jax.inference import load_checkpoint

    workdir = run_copy
    corrupt_newest_params(workdir)
    with pytest.raises(CheckpointUnreadable, match=r"^checkpoint step 20 in .* is unreadable \(ValueError: OUT_OF_RANGE"):
        load_checkpoint(str(workdir))
    assert (workdir / "checkpoints" / "20").is_dir() and not (workdir / "checkpoints_corrupt").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_eval_mode_uses_the_runs_own_config_and_rewrites_no_config(run_copy):
    workdir = run_copy
    first = json.loads((workdir / "results.json").read_text())
    config_before = (workdir / "config.json").read_bytes()
    done = run_command(eval_command(workdir, "t5", "--config.eval.examples_per_length=4"))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert (results["task"], results["pe"], results["config"]) == ("addition", "rope", "rope")
    assert results["eval"]["in_distribution"]["n"] == 8  # 4 per training length, as overridden
    assert results["train"] == first["train"]
    assert (workdir / "config.json").read_bytes() == config_before


def test_eval_mode_refuses_overrides_outside_eval(trained_run):
    workdir = trained_run
    assert eval_config(workdir, {"eval.limit": 3}).eval.limit == 3
    with pytest.raises(UserError, match=r"^--config\.model\.width: --mode=eval .* may change only eval\.\* settings$"):
        eval_config(workdir, {"model.width": 64})
    with pytest.raises(ConfigChanged, match=r"^config\.train\.steps=40 differs"):
        run(tiny_config("rope", **{"train.steps": 40}), workdir, "eval")


def test_another_pe_on_the_same_workdir_is_refused_in_one_line_and_writes_nothing(trained_run):
    workdir = trained_run
    before = snapshot(workdir)
    with pytest.raises(ConfigChanged) as caught:
        run(tiny_config("alibi"), workdir, "train")
    assert one_line(caught.value) == (
        f"config.model.pe.name='alibi' differs from the run's 'rope' ({workdir / 'config.json'}); use a new --workdir"
    )
    assert snapshot(workdir) == before


def test_a_changed_model_is_refused_before_config_json_changes(trained_run):
    workdir = trained_run
    before = snapshot(workdir)
    with pytest.raises(ConfigChanged, match=r"^config\.model\.width=64 differs from the run's 32 "):
        run(tiny_config("rope", **{"model.width": 64}), workdir, "train")
    assert snapshot(workdir) == before


HOLD_LOCK = """
import sys, time
from mathpe_jax.run import RunDir
RunDir(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.subprocess
def test_a_second_process_on_a_run_fails_in_one_line(tmp_path):
    """The lock's holder is another process; the one refused is this one (the command line's
    ``error:`` line is ``one_line`` of the error, as the tests of the command line show)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked) as caught:
            run(tiny_config("rope"), tmp_path, "train")
        assert one_line(caught.value) == f"run directory {tmp_path} is in use by process {holder.pid}"
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "config.json").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_workdir_that_is_a_file_fails_in_one_line(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    done = run_main(tmp_path / "file")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"error: --workdir {tmp_path / 'file'} is a file, not a directory"
    with pytest.raises(WorkdirUnusable, match="is not a run directory"):
        run(tiny_config("rope"), tmp_path, "eval")


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_batch_the_devices_do_not_divide_fails_before_anything_is_written(tmp_path):
    done = run_main(tmp_path / "run", env=simulated_devices(2), **{"train.batch_size": 15})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "error: config.train.batch_size=15: must be divisible by the 2 data-parallel devices (mesh.data x mesh.fsdp)"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigterm_during_evaluation_stops_with_a_message(run_copy):
    workdir = run_copy
    proc = subprocess.Popen(
        eval_command(workdir, "rope", "--config.eval.examples_per_length=64"), cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "evaluating step 20" in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode == SIGTERM_EXIT, "".join(seen)[-3000:] + rest[-3000:]
    assert rest.strip().splitlines()[-1] == "stopped by SIGTERM at step 20; rerun the same command to resume"


@pytest.mark.parametrize(
    "err,message",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/runs/x/metrics.jsonl"),
         "disk full: no space left on the device while writing /runs/x/metrics.jsonl"),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00TiB."),
         "out of device memory (RESOURCE_EXHAUSTED): the model or batch is too large; shrink train.batch_size"),
        (UserError("config.x=1: why"), "config.x=1: why"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/runs/x/metrics.jsonl"),
         "cannot use /runs/x/metrics.jsonl: Is a directory"),
    ],
)
def test_failures_a_user_can_fix_become_one_line(err, message):
    assert one_line(err).startswith(message) and "\n" not in one_line(err)


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB file system: room for the config and the metrics, not for a checkpoint. The suite
    runs as root (CI installs Chromium with apt-get), which may mount a tmpfs."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300K", "tmpfs", str(mount)], capture_output=True)
    assert made.returncode == 0, f"cannot mount a small file system: {made.stderr.decode().strip()}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_full_disk_is_one_line_without_the_libraries_tracebacks(small_disk):
    done = run_main(small_disk / "run")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert lines[-1] == f"error: disk full: no space left on the device while writing {small_disk / 'run'}"
    assert "Traceback" not in done.stderr and len(lines) < 10, done.stderr[-3000:]


def test_a_bug_keeps_its_traceback():
    assert one_line(KeyError("model")) is None


@pytest.mark.slow
@pytest.mark.subprocess
def test_command_line_reports_a_bad_config_in_one_line(tmp_path):
    done = run_main(tmp_path, **{"model.num_kv_heads": 3})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == "error: config.model.num_kv_heads=3: must divide model.num_heads=2"


def _catches_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.subprocess
def test_sigterm_during_start_up_stops_with_a_message(tmp_path):
    import time

    proc = subprocess.Popen(
        eval_command(tmp_path, "rope"), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while not _catches_sigterm(proc.pid):  # a process that never catches it ends, failing the loop
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == SIGTERM_EXIT, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM") and last.endswith("; rerun the same command to resume")
    assert not any(tmp_path.iterdir())
