"""Submits a sweep to PBS: one ``launch/node.pbs`` job per unfinished run, and one report job that
waits for them all (``depend=afterany``).

Each run's ``main`` arguments go to ``OUT/jobs/<name>.seed<k>.args``, one per line, and the job
reads them from there (``ARGS_FILE``): ``qsub -v`` splits values at commas, and overrides such as
``--config.task.train_lengths=(1,10)`` contain them. Job ids are kept in ``OUT/jobs/<...>.jobid``;
a rerun skips runs that are finished or whose job PBS still lists, and resubmits the rest (an
unfinished run resumes from its checkpoint).
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import JOBS, run_state
from mathpe_jax.sweep.plan import PlannedRun

__all__ = ["Submitted", "queued_jobs", "submit_pbs"]

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Submitted:
    runs: dict[str, str]  # run key -> job id, for the runs submitted now
    skipped: list[str]  # run keys finished or still queued
    report_job: str | None


def _qsub(arguments: Sequence[str]) -> str:
    result = subprocess.run(["qsub", *arguments], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"qsub {' '.join(arguments)} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout.strip()


def queued_jobs(job_ids: Sequence[str]) -> set[str]:
    """The ids among ``job_ids`` that PBS still lists (queued, running or held); ``qstat`` with
    ids it no longer knows prints nothing for them."""
    if not job_ids:
        return set()
    result = subprocess.run(["qstat", *job_ids], capture_output=True, text=True, check=False)
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip() and line.split()[0][0].isdigit()}
    return {job for job in job_ids if job in listed or job.split(".")[0] in {j.split(".")[0] for j in listed}}


def submit_pbs(
    runs: Sequence[PlannedRun], out: str | Path, qsub_args: Sequence[str] = (), report: bool = True, container: str = ""
) -> Submitted:
    """Submits every run that is neither finished nor already in the queue, then the report job."""
    if shutil.which("qsub") is None:
        raise UserError("--pbs: qsub is not on PATH (run the sweep on a PBS login node, or locally with --jobs)")
    out = Path(out).absolute()
    jobs = out / JOBS
    jobs.mkdir(parents=True, exist_ok=True)
    id_files = {run.key: jobs / f"{run.name}.seed{run.seed}.jobid" for run in runs}
    known = {key: path.read_text().strip() for key, path in id_files.items() if path.is_file()}
    still_queued = queued_jobs(sorted(set(known.values())))
    submitted: dict[str, str] = {}
    skipped: list[str] = []
    for run in runs:
        if run_state(run.workdir) == "finished" or known.get(run.key) in still_queued:
            skipped.append(run.key)
            continue
        args_file = jobs / f"{run.name}.seed{run.seed}.args"
        args_file.write_text("\n".join([f"--config.seed={run.seed}", *run.overrides]) + "\n")
        variables = f"CONFIG={run.config},WORKDIR={run.workdir.absolute()},ARGS_FILE={args_file},MATHPE_PYTHON={sys.executable}"
        if container:  # each node's process runs in the Enroot image (launch/node_task.sh)
            variables += f",CONTAINER={Path(container).absolute()}"
        job = _qsub(["-N", f"{run.name}_s{run.seed}"[:236], "-o", str(jobs / f"{run.name}.seed{run.seed}.out"),
                     "-v", variables, *qsub_args, str(REPOSITORY / "launch" / "node.pbs")])
        id_files[run.key].write_text(job + "\n")
        submitted[run.key] = job
    report_job = None
    waiting = sorted(set(submitted.values()) | (set(known.values()) & still_queued))
    if report and waiting:
        command = f"cd {shlex.quote(str(REPOSITORY))} && {shlex.quote(sys.executable)} tools/report.py {shlex.quote(str(out))}"
        report_job = _qsub(["-N", "mathpe_report", "-l", "select=1:ncpus=2", "-W", f"depend=afterany:{':'.join(waiting)}",
                            "-o", str(jobs / "report.out"), "-j", "oe", "--", "/bin/bash", "-c", command])
    return Submitted(submitted, skipped, report_job)
