"""The sweep monitor on fake run directories and stand-in ``qstat`` / ``nvidia-smi``: what it reads
from each run, that a half-written file or a missing tool never stops it, and the tool's exits."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.sweep import monitor
from mathpe_jax.sweep.monitor import render, snapshot
from tests import conftest

EVAL = {"exact_match": 0.5, "in_distribution": {"exact_match": 0.75}, "out_of_distribution": {"exact_match": 0.25}}


def make_run(workdir: Path, steps: int = 100, logged: int | None = None, results: dict | str | None = None) -> Path:
    """A run directory as ``main`` leaves it: config.json, metrics.jsonl up to ``logged``, results.json."""
    workdir.mkdir(parents=True)
    (workdir / "config.json").write_text(json.dumps({"name": workdir.parent.name, "train": {"steps": steps}}))
    if logged is not None:
        lines = [{"step": s, "loss": 2.0 / s, "tokens": 1000, "lr": 1e-3, "tokens_per_second": 500.0}
                 for s in range(10, logged + 1, 10)]
        (workdir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if results is not None:
        (workdir / "results.json").write_text(results if isinstance(results, str) else json.dumps(results))
    return workdir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """``a/seed0`` finished, ``a/seed1`` half way (job 1234 on PBS), ``b/seed0`` planned, not begun."""
    out = tmp_path / "sweep"
    make_run(out / "a" / "seed0", logged=100, results={"step": 100, "eval": EVAL})
    make_run(out / "a" / "seed1", logged=50)
    runs = {
        "a/seed0": {"config": "c.py", "seed": 0, "overrides": [], "workdir": "elsewhere/a/seed0"},  # relative to the sweep's cwd
        "a/seed1": {"config": "c.py", "seed": 1, "overrides": [], "workdir": str(out / "a" / "seed1")},
        "b/seed0": {"config": "d.py", "seed": 0, "overrides": [], "workdir": str(out / "b" / "seed0")},
    }
    (out / "sweep.json").write_text(json.dumps({"runs": runs}))
    (out / "jobs").mkdir()
    (out / "jobs" / "a.seed1.jobid").write_text("1234.pbs01\n")
    (out / "jobs" / "b.seed0.jobid").write_text("1235.pbs01\n")
    return out


def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **scripts: str) -> None:
    """Shell scripts named after the tools (``nvidia_smi`` -> ``nvidia-smi``), first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = bin_dir / name.replace("_", "-")
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with neither qstat nor nvidia-smi on it."""
    (tmp_path / "empty_bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))


def by_key(shot: dict) -> dict[str, dict]:
    return {run["key"]: run for run in shot["runs"]}


def test_sweep_lists_every_planned_run_with_progress_and_evaluation(sweep, tmp_path, monkeypatch):
    no_tools(tmp_path, monkeypatch)
    shot = snapshot(sweep)
    json.dumps(shot)  # plain JSON values only
    runs = by_key(shot)
    assert list(runs) == ["a/seed0", "a/seed1", "b/seed0"]  # the plan's order
    done, half, new = runs["a/seed0"], runs["a/seed1"], runs["b/seed0"]
    assert done["workdir"] == str(sweep / "a" / "seed0")  # a relative record is found under DIR
    assert (done["state"], done["step"], done["eta_seconds"]) == ("finished", 100, 0)
    assert done["eval"] == {"step": 100, "exact_match": 0.5, "in_distribution": 0.75, "out_of_distribution": 0.25}
    assert (half["state"], half["step"], half["steps"], half["eval"]) == ("partial", 50, 100, None)
    assert half["loss"] == pytest.approx(0.04) and half["tokens_per_second"] == 500.0
    assert half["eta_seconds"] == pytest.approx(50 * 1000 / 500)
    assert half["disk_bytes"] > 0 and done["disk_bytes"] > half["disk_bytes"]
    assert new == {**new, "state": "new", "step": None, "steps": None, "eval": None, "disk_bytes": 0, "eta_seconds": None}
    assert (done["job"], half["job"]["id"], new["job"]["id"]) == (None, "1234.pbs01", "1235.pbs01")
    assert shot["totals"] == {"running": 0, "partial": 1, "new": 1, "finished": 1}


def test_a_locked_run_is_running(sweep, tmp_path, monkeypatch):
    no_tools(tmp_path, monkeypatch)
    with (sweep / "a" / "seed1" / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert by_key(snapshot(sweep))["a/seed1"]["state"] == "running"
    assert by_key(snapshot(sweep))["a/seed1"]["state"] == "partial"


@pytest.mark.parametrize("text", ['{"step": 100, "eval": {"exact_m', "[1, 2]", ""])
def test_a_half_written_results_file_reads_as_no_evaluation(tmp_path, monkeypatch, text):
    no_tools(tmp_path, monkeypatch)
    make_run(tmp_path / "runs" / "r", logged=100, results=text)
    (run,) = snapshot(tmp_path / "runs")["runs"]
    assert (run["state"], run["eval"], run["step"]) == ("partial", None, 100)
    assert ["r", "partial", "100/100"] in [line.split()[:3] for line in render(snapshot(tmp_path / "runs")).splitlines()]


def test_any_directory_lists_the_run_directories_under_it(tmp_path, monkeypatch):
    no_tools(tmp_path, monkeypatch)
    make_run(tmp_path / "d" / "x" / "seed0", logged=20)
    make_run(tmp_path / "d" / "y", results={"step": 100, "eval": {"exact_match": 1.0}})
    (tmp_path / "d" / "x" / "seed0" / "checkpoints" / "20").mkdir(parents=True)
    (tmp_path / "d" / "x" / "seed0" / "checkpoints" / "20" / "config.json").write_text("{}")  # inside a run: not a run
    assert [run["key"] for run in snapshot(tmp_path / "d")["runs"]] == ["x/seed0", "y"]
    (only,) = snapshot(tmp_path / "d" / "y")["runs"]  # DIR a run directory itself
    assert (only["key"], only["state"], only["eval"]["in_distribution"]) == ("y", "finished", None)
    with pytest.raises(UserError, match="no such directory"):
        snapshot(tmp_path / "missing")


QSTAT_JSON = {"Jobs": {"1234.pbs01": {"job_state": "R", "Job_Name": "a_s1"}}}
NVIDIA_SMI = "0, 87, 30000, 81920\n1, [N/A], 10, 81920\n"


def test_job_state_and_gpus_from_the_tools(sweep, tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch,
               qstat=f"[ \"$1\" = -f ] && [ \"$3\" = json ] || exit 7\necho '{json.dumps(QSTAT_JSON)}'\n"
                     "echo 'qstat: Unknown Job Id 1235.pbs01' >&2\nexit 153\n",
               nvidia_smi=f"printf '{NVIDIA_SMI}'\n")
    shot = snapshot(sweep)
    runs = by_key(shot)
    assert runs["a/seed1"]["job"] == {"id": "1234.pbs01", "state": "R"}
    assert runs["b/seed0"]["job"] == {"id": "1235.pbs01", "state": None}  # ended: PBS no longer lists it
    assert shot["gpus"] == [
        {"index": "0", "utilization_percent": 87.0, "memory_used_mib": 30000.0, "memory_total_mib": 81920.0},
        {"index": "1", "utilization_percent": None, "memory_used_mib": 10.0, "memory_total_mib": 81920.0},
    ]
    assert shot["unavailable"] == {}
    text = render(shot)
    assert "GPU 0: 87% busy, 30000/81920 MiB" in text and "GPU 1: n/a busy" in text
    assert "1234.pbs01  R" in text


QSTAT_PLAIN = """\
Job id            Name             User              Time Use S Queue
----------------  ---------------- ----------------  -------- - -----
1234.pbs*         a_s1             me                       0 Q workq
1235.pbs*         b_s0             me                00:01:02 H workq
"""


def test_plain_qstat_when_json_is_not_understood(sweep, tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch,
               qstat=f"[ \"$1\" = -f ] && {{ echo 'qstat: invalid option -- F' >&2; exit 2; }}\nprintf '{QSTAT_PLAIN}'\n")
    runs = by_key(snapshot(sweep))
    assert (runs["a/seed1"]["job"]["state"], runs["b/seed0"]["job"]["state"]) == ("Q", "H")


def test_jobs_pbs_has_forgotten_are_ended_but_a_failing_server_is_noted(sweep, tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch, qstat="for id; do echo \"qstat: Unknown Job Id $id\" >&2; done\nexit 153\n")
    shot = snapshot(sweep)
    assert by_key(shot)["a/seed1"]["job"] == {"id": "1234.pbs01", "state": None} and "qstat" not in shot["unavailable"]
    fake_tools(tmp_path, monkeypatch, qstat="echo 'Connection refused' >&2\necho 'qstat: cannot connect to server pbs01' >&2\nexit 1\n")
    assert snapshot(sweep)["unavailable"]["qstat"] == "exit status 1: qstat: cannot connect to server pbs01"


def test_missing_tools_are_noted_and_the_rest_still_comes_back(sweep, tmp_path, monkeypatch):
    no_tools(tmp_path, monkeypatch)
    shot = snapshot(sweep)
    assert shot["unavailable"] == {"qstat": "not found on PATH", "nvidia-smi": "not found on PATH"}
    assert shot["gpus"] == [] and by_key(shot)["a/seed1"]["job"] == {"id": "1234.pbs01", "state": None}
    assert "qstat unavailable: not found on PATH" in render(shot)


def test_failing_and_hanging_tools_are_noted(sweep, tmp_path, monkeypatch):
    monkeypatch.setattr(monitor, "TOOL_TIMEOUT", 0.5)
    fake_tools(tmp_path, monkeypatch, qstat="exec sleep 5\n",
               nvidia_smi="echo 'NVIDIA-SMI has failed because it could not communicate with the driver' >&2\nexit 9\n")
    shot = snapshot(sweep)
    assert shot["unavailable"]["qstat"] == "no answer within 0.5 s"
    assert shot["unavailable"]["nvidia-smi"].startswith("exit status 9: NVIDIA-SMI has failed")
    assert by_key(shot)["a/seed0"]["state"] == "finished"


def test_render_draws_an_aligned_table_with_totals(sweep, tmp_path, monkeypatch):
    no_tools(tmp_path, monkeypatch)
    lines = render(snapshot(sweep)).splitlines()
    header, *rows = lines[2:6]
    state = header.index("state")  # text columns start under their header
    assert [row[state:].split()[0] for row in rows] == ["finished", "partial", "new"]
    disk = header.index("disk") + len("disk")  # figures end under theirs
    sizes = [row[:disk].split()[-1] for row in rows]
    assert all(re.fullmatch(r"\d+B|\d+\.\dK", size) for size in sizes) and sizes[-1] == "0B"
    assert rows[0].split()[2:10] == ["100/100", "0.0200", "500", "0m00s", "100", "50.0%", "75.0%", "25.0%"]
    assert rows[2].split()[2:10] == ["-"] * 8
    assert "3 runs: 0 running, 1 partial, 1 new, 1 finished" in lines


@pytest.mark.subprocess
def test_tool_prints_json_and_a_table(sweep):
    done = conftest.run_tool("monitor.py", str(sweep), "--once", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    assert [run["key"] for run in json.loads(done.stdout)["runs"]] == ["a/seed0", "a/seed1", "b/seed0"]
    done = conftest.run_tool("monitor.py", str(sweep), "--once", timeout=300)
    assert done.returncode == 0 and "a/seed1  partial" in done.stdout


@pytest.mark.subprocess
def test_tool_refuses_a_missing_directory_in_one_line(tmp_path):
    done = conftest.run_tool("monitor.py", str(tmp_path / "missing"), "--once", timeout=300)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error:")


@pytest.mark.subprocess
def test_watch_redraws_until_ctrl_c_and_exits_quietly(sweep):
    env = {**os.environ, "PYTHONPATH": str(conftest.REPO_ROOT)}
    watch = subprocess.Popen([sys.executable, "tools/monitor.py", str(sweep), "--interval", "0.1"], cwd=conftest.REPO_ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout.readline().startswith("\x1b[2J\x1b[H")
        while (line := watch.stdout.readline()) and "\x1b[2J" not in line:  # wait for the second frame
            pass
        assert line, "the watch ended by itself"
        watch.send_signal(signal.SIGINT)
        _, stderr = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert (watch.returncode, stderr) == (0, "")


def test_the_monitor_imports_no_jax():
    code = "import sys, mathpe_jax.sweep.monitor; print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax')))"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(conftest.REPO_ROOT)},
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
