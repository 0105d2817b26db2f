"""Runs a sweep on this machine: each run is a ``mathpe_jax.main`` process, ``jobs`` at a time.

Finished runs are skipped and unfinished ones resume (``main`` resumes from the run's newest
checkpoint), so rerunning an interrupted sweep loses nothing. SIGINT or SIGTERM stops the sweep
the way PBS stops a run: every running run gets SIGTERM, saves a checkpoint and exits, and the
sweep exits after them, saying of each run what became of it (finished, stopped with a checkpoint
at step N, not started), read from its exit status and its directory rather than assumed. Each
run's output goes to ``OUT/logs/<name>.seed<k>.log``.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from absl import logging

from mathpe_jax.progress import format_seconds
from mathpe_jax.run.layout import LOGS, lock_holder, run_state
from mathpe_jax.sweep.plan import PlannedRun
from mathpe_jax.sweep.state import latest_checkpoint, read_progress

__all__ = ["Interrupted", "Outcome", "log_path", "run_local"]

STOPPED = 128 + signal.SIGTERM  # main's status after saving a checkpoint on SIGTERM


@dataclasses.dataclass(frozen=True)
class Outcome:
    run: PlannedRun
    # "finished", "skipped" (finished before), "busy" (another process runs it), "failed", and when
    # the sweep is stopped, "stopped" (detail: its checkpoint) or "not started"
    status: str
    detail: str = ""

    def __str__(self) -> str:
        """One line for the person who ran the sweep: ``rope/seed1: stopped with a checkpoint at step 20``."""
        text = {"skipped": "finished before this sweep", "stopped": f"stopped {self.detail}"}.get(self.status)
        return f"{self.run.key}: {text or self.status + (f': {self.detail}' if self.detail else '')}"


class Interrupted(Exception):
    """The sweep was asked to stop and its running runs have exited; the message says what became
    of each run, one line each, in plan order."""

    def __init__(self, signum: int, outcomes: list[Outcome]):
        super().__init__("\n".join([f"sweep stopped by signal {signum}; rerun the same command to resume", *map(str, outcomes)]))


def log_path(out: Path, run: PlannedRun) -> Path:
    return out / LOGS / f"{run.name}.seed{run.seed}.log"


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _status_line(done: int, total: int, running: dict[subprocess.Popen, PlannedRun], started: float) -> str:
    parts = []
    for run in running.values():
        progress = read_progress(run.workdir)
        step = f"step {progress.step}/{progress.steps}" if progress.step is not None else "starting"
        parts.append(f"{run.key} {step}")
    elapsed = time.monotonic() - started
    eta = f", ETA {format_seconds(elapsed / done * (total - done))}" if done else ""
    return f"sweep: {done}/{total} runs done in {format_seconds(elapsed)}{eta}; running: {', '.join(parts) or 'none'}"


def run_local(runs: Sequence[PlannedRun], out: str | Path, jobs: int = 1, status_every: float = 60.0) -> list[Outcome]:
    """Runs every unfinished run of ``runs``, ``jobs`` at a time, in order; returns one outcome per
    run, in the order of ``runs``.

    Raises ``Interrupted`` after SIGINT/SIGTERM, once the running runs have checkpointed and exited.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: at least one")
    out = Path(out)
    (out / LOGS).mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    queue: list[PlannedRun] = []
    for run in runs:
        state = run_state(run.workdir)
        if state == "finished":
            outcomes.append(Outcome(run, "skipped"))
        elif state == "running":
            outcomes.append(Outcome(run, "busy", f"process {lock_holder(run.workdir) or 'unknown'} holds its lock"))
        else:
            queue.append(run)
    for outcome in outcomes:
        logging.info("%s: %s", outcome.run.key, "finished before, skipped" if outcome.status == "skipped" else outcome.detail)
    total, done = len(queue), 0
    stop: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    running: dict[subprocess.Popen, PlannedRun] = {}
    signalled: set[subprocess.Popen] = set()
    started = last_status = time.monotonic()
    try:
        while (queue and not stop) or running:
            while queue and len(running) < jobs and not stop:
                run = queue.pop(0)
                log = log_path(out, run).open("a", encoding="utf-8")
                log.write(f"$ {' '.join(run.command())}\n")
                log.flush()
                process = subprocess.Popen(run.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                log.close()
                running[process] = run
                logging.info("%s: started (%s), log %s", run.key, run_state(run.workdir), log_path(out, run))
            if stop:
                for process in running.keys() - signalled:
                    process.send_signal(signal.SIGTERM)  # once: a second SIGTERM would cut the checkpoint short
                    signalled.add(process)
            time.sleep(0.5)
            for process in [p for p in running if p.poll() is not None]:
                run = running.pop(process)
                done += 1
                if process.returncode == 0:
                    outcomes.append(Outcome(run, "finished"))
                    logging.info("%s: finished", run.key)
                elif process in signalled and process.returncode in (STOPPED, -signal.SIGTERM):
                    step = latest_checkpoint(run.workdir)
                    outcomes.append(Outcome(run, "stopped", "before its first checkpoint" if step is None
                                            else f"with a checkpoint at step {step}"))
                    logging.info("%s", outcomes[-1])
                else:
                    detail = f"exit status {process.returncode}: {_last_line(log_path(out, run))}"
                    outcomes.append(Outcome(run, "failed", detail))
                    logging.warning("%s: failed (%s)", run.key, detail)
            if running and time.monotonic() - last_status >= status_every:
                last_status = time.monotonic()
                logging.info("%s", _status_line(done, total, running, started))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    outcomes += [Outcome(run, "not started") for run in queue]
    order = {run.key: index for index, run in enumerate(runs)}
    outcomes.sort(key=lambda outcome: order[outcome.run.key])
    if stop:
        raise Interrupted(stop[0], outcomes)
    return outcomes
