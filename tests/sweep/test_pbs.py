"""PBS submission with fake ``qsub`` and ``qstat`` on PATH: one job per unfinished run with its
arguments in a file (commas survive), a report job that waits for them, and a rerun that submits
only what is neither finished nor queued."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import JOBS
from mathpe_jax.sweep.pbs import submit_pbs
from mathpe_jax.sweep.plan import PlannedRun


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_pbs(tmp_path, monkeypatch) -> Path:
    """qsub appends its arguments (one JSON list per line) to calls.jsonl and prints job ids
    1.server, 2.server, ...; qstat lists the ids in queued.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "qsub", f"""python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> {tmp_path}/calls.jsonl
echo "$(wc -l < {tmp_path}/calls.jsonl).server"
""")
    _tool(bin_dir, "qstat", f"""touch {tmp_path}/queued.txt
for id in "$@"; do grep -qx "$id" {tmp_path}/queued.txt && echo "$id  name  user  0  Q workq"; done; exit 0
""")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path


def _calls(root: Path) -> list[list[str]]:
    return [json.loads(line) for line in (root / "calls.jsonl").read_text().splitlines()]


def test_one_job_per_run_and_a_report_job_after_them(fake_pbs, tmp_path):
    out = tmp_path / "sweep"
    runs = [PlannedRun("rope", "configs/rope.py", s, ("--config.task.train_lengths=(1,10)",), out / "rope" / f"seed{s}") for s in (0, 1)]
    submitted = submit_pbs(runs, out, ["-l", "walltime=01:00:00"])
    assert submitted.runs == {"rope/seed0": "1.server", "rope/seed1": "2.server"} and submitted.report_job == "3.server"
    first, _, report = _calls(fake_pbs)
    assert first[-1].endswith("launch/node.pbs") and "walltime=01:00:00" in first
    variables = dict(v.split("=", 1) for v in first[first.index("-v") + 1].split(","))
    assert variables["CONFIG"] == "configs/rope.py" and variables["WORKDIR"] == str((out / "rope" / "seed0").absolute())
    assert Path(variables["ARGS_FILE"]).read_text().splitlines() == ["--config.seed=0", "--config.task.train_lengths=(1,10)"]
    assert "depend=afterany:1.server:2.server" in report and "tools/report.py" in report[-1]
    assert (out / JOBS / "rope.seed1.jobid").read_text().strip() == "2.server"


def test_a_container_reaches_every_run_job(fake_pbs, tmp_path):
    out = tmp_path / "sweep"
    runs = [PlannedRun("t5", "configs/t5.py", 0, (), out / "t5" / "seed0")]
    submit_pbs(runs, out, report=False, container="enroot/mathpe_jax.sqsh")
    (job,) = _calls(fake_pbs)
    variables = dict(v.split("=", 1) for v in job[job.index("-v") + 1].split(","))
    assert variables["CONTAINER"] == str(Path("enroot/mathpe_jax.sqsh").absolute())


def test_rerun_skips_finished_and_queued_runs(fake_pbs, tmp_path):
    out = tmp_path / "sweep"
    runs = [PlannedRun("rope", "configs/rope.py", s, (), out / "rope" / f"seed{s}") for s in (0, 1, 2)]
    submit_pbs(runs, out)  # jobs 1-3, report 4
    (fake_pbs / "queued.txt").write_text("2.server\n")
    finished = runs[0].workdir
    finished.mkdir(parents=True)
    (finished / "config.json").write_text(json.dumps({"train": {"steps": 5}}))
    (finished / "results.json").write_text(json.dumps({"step": 5, "eval": {}}))
    again = submit_pbs(runs, out)
    assert again.runs == {"rope/seed2": "5.server"} and sorted(again.skipped) == ["rope/seed0", "rope/seed1"]
    assert "depend=afterany:2.server:5.server" in _calls(fake_pbs)[-1]


def test_without_qsub_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="qsub is not on PATH"):
        submit_pbs([PlannedRun("rope", "configs/rope.py", 0, (), tmp_path / "r")], tmp_path)


def test_node_pbs_reads_the_arguments_file(tmp_path):
    """launch/node.pbs passes each line of ARGS_FILE as one argument (pbsdsh faked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "pbsdsh", f'shift 2; printf "%s\\n" "$@" > {tmp_path}/argv.txt\n')
    (tmp_path / "nodes").write_text("n1\n")
    args = tmp_path / "args"
    args.write_text("--config.seed=2\n--config.task.train_lengths=(1, 10)\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PBS_NODEFILE": str(tmp_path / "nodes"), "ARGS_FILE": str(args),
           "CONFIG": "configs/rope.py", "WORKDIR": "runs/x"}
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(["bash", str(repo / "launch" / "node.pbs")], env=env, capture_output=True, text=True, cwd=repo, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "argv.txt").read_text().splitlines()[-2:] == ["--config.seed=2", "--config.task.train_lengths=(1, 10)"]
