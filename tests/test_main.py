"""End-to-end: every PE config trains, evaluates and writes the run directory; a run keeps its
own config; every failure a user can fix ends in one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.main import eval_config, one_line, run
from mathpe_jax.run import ConfigChanged, RunLocked, WorkdirUnusable
from mathpe_jax.run.checkpoint import CheckpointUnreadable
from tests.conftest import REPO_ROOT
from tests.helpers_run import run_command, run_main, tiny_config

PES = ["sinusoidal", "rope", "alibi", "diet", "t5", "nope"]


def snapshot(directory):
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def eval_command(workdir, config: str = "t5", *overrides: str) -> list[str]:
    """The README's re-evaluation: ``--config`` names another file, which eval mode does not read."""
    return [sys.executable, "-m", "mathpe_jax.main", f"--config=configs/{config}.py", "--mode=eval",
            f"--workdir={workdir}", *overrides]


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
    assert on_disk["schema_version"] >= 2 and len(on_disk["provenance"]["commit"]) == 40
    assert on_disk["provenance"]["train_seconds_total"] == pytest.approx(on_disk["train"]["wall_seconds"])
    assert json.loads((tmp_path / "config.json").read_text())["model"]["pe"]["name"] == name
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10, 15, 20]
    assert {"loss", "lr", "grad_norm", "tokens_per_second"} <= set(json.loads(lines[-1]))
    assert any((tmp_path / "tensorboard").iterdir())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["10", "20"]
    assert {p.name for p in (tmp_path / "checkpoints" / "20").iterdir() if p.is_dir()} == {"params", "opt_state"}


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    """A finished RoPE run on the copy task (the README's quick start, made tiny)."""
    workdir = tmp_path_factory.mktemp("copy") / "run"
    results = run(tiny_config("rope", **{"task.name": "copy"}), workdir, "train")
    return workdir, results


def test_the_run_logs_its_evaluation_next_to_its_training_in_tensorboard(copy_run):
    from tests.run.test_tensorboard import hparams_session, read_events, summary_values

    workdir, _ = copy_run
    values = summary_values(read_events(workdir / "tensorboard"))
    tags = {value.tag for _, value in values}
    assert {"loss", "eval/exact_match", "eval/by_length/3/exact_match", "_hparams_/session_start_info"} <= tags
    heatmaps = sorted(p.stem for p in (workdir / "attention").glob("*.png"))
    assert heatmaps and {f"attention/{stem}" for stem in heatmaps} <= tags
    start = hparams_session(values)["_hparams_/session_start_info"].session_start_info.hparams
    assert start["model.width"].number_value == 32


def test_eval_mode_reevaluates_the_latest_checkpoint(copy_run):
    workdir, first = copy_run
    again = run(tiny_config("rope", **{"task.name": "copy"}), workdir, "eval")
    assert again["step"] == first["step"] == 20
    assert again["eval"]["by_length"] == first["eval"]["by_length"] and again["train"] == first["train"]


def copied(copy_run, tmp_path):
    """A copy of the shared run, for a test that damages it."""
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(copy_run[0], workdir)
    return workdir


def evaluation_files(workdir) -> dict:
    return {name: value for name, value in snapshot(workdir).items()
            if str(name).split("/")[0] in ("predictions.jsonl", "results.json", "attention")}


def test_an_evaluation_stopped_before_its_results_leaves_the_previous_one_whole(copy_run, tmp_path, monkeypatch):
    """SIGTERM (or a full disk) after the new predictions exist but before results.json: the run
    keeps the previous predictions, heatmaps and results together."""
    import mathpe_jax.main as main

    workdir = copied(copy_run, tmp_path)
    before = evaluation_files(workdir)

    def stopped(*args, **kwargs):
        raise main.Stopped()

    monkeypatch.setattr(main, "write_results", stopped)
    with pytest.raises(main.Stopped):
        run(tiny_config("rope", **{"task.name": "copy", "eval.examples_per_length": 4}), workdir, "eval")
    assert evaluation_files(workdir) == before
    assert not (workdir / ".eval-staging").exists()


def test_a_results_json_that_cannot_be_replaced_fails_in_one_line_and_keeps_the_evaluation(copy_run, tmp_path):
    workdir = copied(copy_run, tmp_path)
    (workdir / "results.json").unlink()
    (workdir / "results.json").mkdir()
    predictions = (workdir / "predictions.jsonl").read_bytes()
    with pytest.raises(WorkdirUnusable, match=r"results\.json is a directory, not a file") as caught:
        run(tiny_config("rope", **{"task.name": "copy", "eval.examples_per_length": 4}), workdir, "eval")
    assert "\n" not in one_line(caught.value)
    assert (workdir / "predictions.jsonl").read_bytes() == predictions


def corrupt_newest_params(workdir, step: int = 20) -> None:
    """Truncates the largest parameter file of ``step``, as a disk or copy that lost its tail would."""
    files = (workdir / "checkpoints" / str(step) / "params").rglob("*")
    largest = max((f for f in files if f.is_file()), key=lambda f: f.stat().st_size)
    os.truncate(largest, 100)


def test_eval_mode_refuses_a_corrupt_final_checkpoint_and_takes_an_older_one_only_when_asked(copy_run, tmp_path):
    workdir = copied(copy_run, tmp_path)
    corrupt_newest_params(workdir)
    before = evaluation_files(workdir)
    config = tiny_config("rope", **{"task.name": "copy"})
    with pytest.raises(CheckpointUnreadable, match=r"step 20 .* unreadable .*moved to .*--config\.eval\.step=10"):
        run(config, workdir, "eval")
    assert (workdir / "checkpoints_corrupt" / "20").is_dir()  # moved aside, as on resume
    assert evaluation_files(workdir) == before
    with pytest.raises(CheckpointUnreadable, match=r"step 20 .* was moved to checkpoints_corrupt/"):
        run(config, workdir, "eval")  # a second try does not take step 10 for the run's final model
    results = run(tiny_config("rope", **{"task.name": "copy", "eval.step": 10}), workdir, "eval")
    assert results["step"] == 10 and results["train"]["step"] == 20  # each labelled with its own step
    with pytest.raises(UserError, match=r"^config\.eval\.step=10 is for --mode=eval"):
        run(tiny_config("rope", **{"task.name": "copy", "eval.step": 10}), workdir, "train")


def test_inference_refuses_a_run_whose_final_checkpoint_is_corrupt_and_moves_nothing(copy_run, tmp_path):
    from mathpe_jax.inference import load_checkpoint

    workdir = copied(copy_run, tmp_path)
    corrupt_newest_params(workdir)
    with pytest.raises(CheckpointUnreadable, match=r"^checkpoint step 20 in .* is unreadable \(ValueError: OUT_OF_RANGE"):
        load_checkpoint(str(workdir))
    assert (workdir / "checkpoints" / "20").is_dir() and not (workdir / "checkpoints_corrupt").exists()


def test_eval_mode_uses_the_runs_own_config_and_rewrites_no_config(copy_run):
    workdir, first = copy_run
    config_before = (workdir / "config.json").read_bytes()
    done = run_command(eval_command(workdir, "t5", "--config.eval.examples_per_length=4"))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert (results["task"], results["pe"], results["config"]) == ("copy", "rope", "rope")
    assert results["eval"]["in_distribution"]["n"] == 8  # 4 per training length, as overridden
    assert results["train"] == json.loads(json.dumps(first["train"]))
    assert (workdir / "config.json").read_bytes() == config_before


def test_eval_mode_refuses_overrides_outside_eval(copy_run):
    workdir, _ = copy_run
    assert eval_config(workdir, {"eval.limit": 3}).eval.limit == 3
    with pytest.raises(UserError, match=r"^--config\.model\.width: --mode=eval .* may change only eval\.\* settings$"):
        eval_config(workdir, {"model.width": 64})
    with pytest.raises(ConfigChanged, match=r"^config\.train\.steps=40 differs"):
        run(tiny_config("rope", **{"task.name": "copy", "train.steps": 40}), workdir, "eval")


def test_another_pe_on_the_same_workdir_is_refused_in_one_line_and_writes_nothing(copy_run):
    workdir, _ = copy_run
    before = snapshot(workdir)
    done = run_main(workdir, "alibi", **{"task.name": "copy"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: config.model.pe.name='alibi' differs from the run's 'rope' ({workdir / 'config.json'}); use a new --workdir"
    )
    assert snapshot(workdir) == before


def test_a_changed_model_is_refused_before_config_json_changes(copy_run):
    workdir, _ = copy_run
    before = snapshot(workdir)
    with pytest.raises(ConfigChanged, match=r"^config\.model\.width=64 differs from the run's 32 "):
        run(tiny_config("rope", **{"task.name": "copy", "model.width": 64}), workdir, "train")
    assert snapshot(workdir) == before


HOLD_LOCK = """
import sys, time
from mathpe_jax.run import RunDir
RunDir(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_process_on_a_run_fails_in_one_line(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"^run directory {tmp_path} is in use by process {holder.pid}$"):
            run(tiny_config("rope"), tmp_path, "train")
        done = run_main(tmp_path)
        assert done.returncode != 0
        assert done.stderr.strip().splitlines() == [f"error: run directory {tmp_path} is in use by process {holder.pid}"]
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "config.json").exists()


def test_a_workdir_that_is_a_file_fails_in_one_line(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    done = run_main(tmp_path / "file")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"error: --workdir {tmp_path / 'file'} is a file, not a directory"
    with pytest.raises(WorkdirUnusable, match="is not a run directory"):
        run(tiny_config("rope"), tmp_path, "eval")


def test_a_batch_the_devices_do_not_divide_fails_before_anything_is_written(tmp_path):
    done = run_main(tmp_path / "run", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, **{"train.batch_size": 15})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "error: config.train.batch_size=15: must be divisible by the 2 data-parallel devices (mesh.data x mesh.fsdp)"
    )
    assert not (tmp_path / "run").exists()


def test_sigterm_during_evaluation_stops_with_a_message(copy_run):
    workdir, _ = copy_run
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
    proc.wait(timeout=120)
    assert proc.returncode == 143, "".join(seen)[-3000:] + rest[-3000:]
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
    """A 300 KiB file system: room for the config and the metrics, not for a checkpoint."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300K", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_is_one_line_without_the_libraries_tracebacks(small_disk):
    done = run_main(small_disk / "run")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert lines[-1] == f"error: disk full: no space left on the device while writing {small_disk / 'run'}"
    assert "Traceback" not in done.stderr and len(lines) < 10, done.stderr[-3000:]


def test_a_bug_keeps_its_traceback():
    assert one_line(KeyError("model")) is None


def test_command_line_reports_a_bad_config_in_one_line(tmp_path):
    done = run_main(tmp_path, **{"model.num_kv_heads": 3})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == "error: config.model.num_kv_heads=3: must divide model.num_heads=2"


def _catches_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


def test_sigterm_during_start_up_stops_with_a_message(tmp_path):
    import time

    proc = subprocess.Popen(
        eval_command(tmp_path, "rope"), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 60
    while not _catches_sigterm(proc.pid):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM") and last.endswith("; rerun the same command to resume")
    assert not any(tmp_path.iterdir())
