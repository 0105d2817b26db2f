"""The local sweep: runs N at a time, skips finished runs, reruns unfinished and failed ones, and
on SIGINT stops every run with SIGTERM once. ``main`` is replaced by ``fake_main.py`` here; the
real thing runs end to end in ``tests/test_compare.py``."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mathpe_jax.run.layout import LOGS, run_state
from mathpe_jax.sweep.local import run_local
from mathpe_jax.sweep.plan import PlannedRun

FAKE_MAIN = Path(__file__).with_name("fake_main.py")


@pytest.fixture(autouse=True)
def _fake_main(monkeypatch):
    monkeypatch.setattr(PlannedRun, "command", lambda self: [sys.executable, str(FAKE_MAIN), *self.arguments()])


def _runs(out: Path, names=("a", "b"), seeds=(0, 1)) -> list[PlannedRun]:
    return [PlannedRun(n, f"configs/{n}.py", s, (), out / n / f"seed{s}") for n in names for s in seeds]


def _attempts(run: PlannedRun) -> int:
    return len((run.workdir / "attempts").read_text().splitlines())


@pytest.mark.subprocess
def test_runs_everything_then_skips_what_finished(tmp_path):
    runs = _runs(tmp_path)
    assert [o.status for o in run_local(runs, tmp_path, jobs=2)] == ["finished"] * 4
    assert all(run_state(r.workdir) == "finished" for r in runs)
    assert "--config.seed=1" in (tmp_path / "logs" / "b.seed1.log").read_text()
    assert [o.status for o in run_local(runs, tmp_path, jobs=2)] == ["skipped"] * 4
    assert [_attempts(r) for r in runs] == [1, 1, 1, 1]


@pytest.mark.subprocess
def test_a_failed_run_is_reported_and_retried_on_the_next_sweep(tmp_path, monkeypatch):
    runs = _runs(tmp_path, names=("a",))
    monkeypatch.setenv("FAKE_MAIN_FAIL", "1")
    outcomes = run_local(runs, tmp_path)
    assert [o.status for o in outcomes] == ["finished", "failed"]
    assert "exit status 2: error: something a user can fix" in outcomes[1].detail
    monkeypatch.delenv("FAKE_MAIN_FAIL")
    assert [o.status for o in run_local(runs, tmp_path)] == ["skipped", "finished"]
    assert _attempts(runs[1]) == 2


@pytest.mark.subprocess
def test_sigint_stops_running_runs_once_says_what_became_of_each_and_the_rerun_finishes(tmp_path):
    """The sweep in a child process: SIGINT while two slow runs are going, a third waits and a fourth
    finished before; each running run gets one SIGTERM (exit 143, no traceback in its log), the
    sweep exits 143 saying of every run what is true, and a rerun finishes the rest."""
    runs = _runs(tmp_path)
    assert [o.status for o in run_local(runs[3:], tmp_path)] == ["finished"]
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.sweep.test_local import _runs, FAKE_MAIN
        from mathpe_jax.sweep.local import run_local, Interrupted
        from mathpe_jax.sweep.plan import PlannedRun
        PlannedRun.command = lambda self: [sys.executable, str(FAKE_MAIN), *self.arguments()]
        try:
            run_local(_runs(Path({str(tmp_path)!r})), {str(tmp_path)!r}, jobs=2)
        except Interrupted as stop:
            print(stop)
            sys.exit(143)
    """)
    sweep = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={"FAKE_MAIN_SLEEP": "60", "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 60
    while not all(run_state(r.workdir) == "running" for r in runs[:2]):
        assert time.monotonic() < deadline, "runs did not start"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    out, _ = sweep.communicate(timeout=60)
    assert sweep.returncode == 143
    assert out.splitlines()[-4:] == [
        "a/seed0: stopped with a checkpoint at step 1",
        "a/seed1: stopped with a checkpoint at step 1",
        "b/seed0: not started",
        "b/seed1: finished before this sweep",
    ]
    assert "rerun the same command to resume" in out
    for run in runs[:2]:
        log = (tmp_path / LOGS / f"a.seed{run.seed}.log").read_text()
        assert log.count("stopped by SIGTERM") == 1 and "Traceback" not in log
        assert run_state(run.workdir) == "partial"
    assert run_state(runs[2].workdir) == "new"
    assert [o.status for o in run_local(runs, tmp_path, jobs=2)] == ["finished", "finished", "finished", "skipped"]
