"""Where a sweep stands: each run's state, step, pace, latest evaluation and disk use, its PBS job,
and the GPUs of this machine, gathered in one JSON-serialisable snapshot and drawn as a table.

The monitor only reads. Run state and progress come from ``run.layout`` and ``state`` (which never
take a run's lock), so watching cannot disturb a run. ``qstat`` and ``nvidia-smi`` are asked with a timeout, and
a tool that is missing, hangs or fails is noted under ``unavailable`` while the rest of the snapshot
still comes back: a laptop without PBS or a login node without GPUs watches the same directory.
``qstat`` is only asked when the directory holds job ids (``OUT/jobs/*.jobid``), so a local sweep
shows no note about PBS. Nothing here imports JAX, so the monitor starts at once.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mathpe_jax.errors import UserError
from mathpe_jax.progress import format_seconds
from mathpe_jax.run.layout import CONFIG, JOBS, RESULTS, SWEEP, peek_json_object, run_state
from mathpe_jax.sweep.plan import read_plan
from mathpe_jax.sweep.state import directory_bytes, read_progress

__all__ = ["render", "snapshot"]

STATES = ("running", "partial", "new", "finished")
TOOL_TIMEOUT = 10.0  # seconds; a hung qstat (PBS server down) must not freeze the monitor
HEADER = ["run", "state", "step", "loss", "tok/s", "ETA", "eval@", "EM", "ID EM", "OOD EM", "disk", "job", "S"]
LEFT = {"run", "state", "job", "S"}  # text columns; the figures are right-aligned
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"]


class _Unavailable(Exception):
    """An outside tool that gave no usable answer; the message says why."""


def _run_tool(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``command``'s completed process; raises ``_Unavailable`` when it is not on PATH, cannot start
    or does not answer in time (its exit status is left to the caller, which knows what it means)."""
    if shutil.which(command[0]) is None:
        raise _Unavailable("not found on PATH")
    try:
        return subprocess.run(list(command), capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise _Unavailable(f"no answer within {TOOL_TIMEOUT:g} s") from None
    except OSError as error:
        raise _Unavailable(str(error)) from None


def _failure(result: subprocess.CompletedProcess[str]) -> str:
    """A failed tool's exit status and last line, which usually names the cause."""
    last = (result.stderr or result.stdout).strip().splitlines()[-1:]
    return f"exit status {result.returncode}" + (f": {last[0]}" if last else "")


def _qstat_json(job_ids: Sequence[str]) -> dict[str, str]:
    """PBS Pro's full listing as JSON; ``ValueError`` or ``TypeError`` when the output is not a JSON
    object (Torque has no ``-F json``, and some PBS versions write invalid JSON for odd job variables)."""
    result = _run_tool(["qstat", "-f", "-F", "json", *job_ids])
    data = json.loads(result.stdout)
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    jobs = data.get("Jobs") or {}
    return {job: fields.get("job_state") for job, fields in jobs.items() if isinstance(fields, dict)}


def _qstat_plain(job_ids: Sequence[str]) -> dict[str, str]:
    """The ``S`` column of plain ``qstat``, located by the dashes under the header (so an empty
    column cannot shift it). Ids PBS no longer knows only draw ``Unknown Job Id`` on stderr."""
    result = _run_tool(["qstat", *job_ids])
    lines = result.stdout.splitlines()
    listed: dict[str, str] = {}
    for i in range(1, len(lines)):
        if "-" in lines[i] and set(lines[i]) <= {"-", " "}:
            columns = [slice(*m.span()) for m in re.finditer(r"-+", lines[i])]
            state = next((c for c in columns if lines[i - 1][c].strip() == "S"), None)
            if state is not None:
                listed = {row.split()[0]: row[state].strip() for row in lines[i + 1 :] if row.split()}
            break
    errors = result.stderr.strip().splitlines()
    unknown_only = bool(errors) and all("Unknown Job" in line for line in errors)
    if result.returncode and not listed and not unknown_only:
        raise _Unavailable(_failure(result))
    return listed


def _job_states(job_ids: Sequence[str]) -> dict[str, str | None]:
    """PBS's state letter (Q, R, H, E, ...) of each job, None for a job it no longer lists (ended).
    Ids are matched by their number, as plain ``qstat`` may truncate the server name."""
    try:
        listed = _qstat_json(job_ids)
    except (_Unavailable, ValueError, TypeError):
        listed = _qstat_plain(job_ids)
    by_number = {job.split(".")[0]: state for job, state in listed.items()}
    return {job: listed.get(job, by_number.get(job.split(".")[0])) for job in job_ids}


def _number(text: str) -> float | None:
    """``nvidia-smi``'s field as a number; None for ``[N/A]`` (e.g. utilisation under MIG)."""
    try:
        return float(text)
    except ValueError:
        return None


def _gpus() -> list[dict[str, Any]]:
    """Utilisation (%) and memory (MiB) of each GPU this machine shows; an empty list on a machine
    whose nvidia-smi finds none."""
    result = _run_tool(NVIDIA_SMI)
    if result.returncode:
        raise _Unavailable(_failure(result))
    gpus = []
    for line in result.stdout.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == 4:
            index, utilisation, used, total = fields
            gpus.append({"index": index, "utilization_percent": _number(utilisation),
                         "memory_used_mib": _number(used), "memory_total_mib": _number(total)})
    return gpus


def _run_directories(directory: Path) -> dict[str, Path]:
    """Run key -> run directory. A sweep lists every planned run, begun or not; any other directory
    lists the run directories (those holding config.json) at or under it, by relative path."""
    if (directory / SWEEP).is_file():
        # A relative workdir was recorded relative to the sweep's working directory, not ours;
        # the plan puts every run at OUT/<key>.
        recorded = {key: Path(run.get("workdir", "")) for key, run in read_plan(directory).items()}
        return {key: workdir if workdir.is_absolute() else directory / key for key, workdir in recorded.items()}
    runs: dict[str, Path] = {}
    for root, subdirectories, files in os.walk(directory):
        if CONFIG in files:
            key = Path(root).relative_to(directory).as_posix()
            runs[directory.resolve().name if key == "." else key] = Path(root)
            subdirectories.clear()  # a run's own folders (checkpoints, tensorboard) hold no runs
        else:
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
    return runs


def _job_id(directory: Path, key: str) -> str | None:
    """The id in ``OUT/jobs/<name>.seed<k>.jobid`` for run ``<name>/seed<k>``, as ``pbs`` writes it."""
    name, _, seed = key.rpartition("/")
    if not name:
        return None
    try:
        return (directory / JOBS / f"{name}.{seed}.jobid").read_text().strip() or None
    except OSError:
        return None


def _latest_eval(workdir: Path) -> dict[str, Any] | None:
    """The step ``results.json`` evaluated and its exact-match figures (None where absent); None
    when there is no evaluation yet, or the file is half written."""
    results = peek_json_object(workdir / RESULTS) or {}
    evaluation = results.get("eval")
    if not isinstance(evaluation, dict):
        return None

    def exact_match(section: Any) -> Any:
        return section.get("exact_match") if isinstance(section, dict) else None

    return {"step": results.get("step"), "exact_match": exact_match(evaluation),
            "in_distribution": exact_match(evaluation.get("in_distribution")),
            "out_of_distribution": exact_match(evaluation.get("out_of_distribution"))}


def snapshot(directory: str | Path) -> dict[str, Any]:
    """Everything the monitor shows about ``directory`` (a sweep or any folder of runs), as plain
    JSON values; raises ``UserError`` when it is not a directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such directory")
    workdirs = _run_directories(directory)
    job_ids = {key: job for key in workdirs if (job := _job_id(directory, key))}
    unavailable: dict[str, str] = {}
    job_states: dict[str, str | None] = {}
    if job_ids:
        try:
            job_states = _job_states(sorted(set(job_ids.values())))
        except _Unavailable as reason:
            unavailable["qstat"] = str(reason)
    try:
        gpus = _gpus()
    except _Unavailable as reason:
        gpus, unavailable["nvidia-smi"] = [], str(reason)
    runs = []
    for key, workdir in workdirs.items():
        progress = read_progress(workdir)
        job = job_ids.get(key)
        runs.append({
            "key": key, "workdir": str(workdir), "state": run_state(workdir),
            "step": progress.step, "steps": progress.steps, "loss": progress.loss,
            "tokens_per_second": progress.tokens_per_second, "eta_seconds": progress.eta_seconds,
            "eval": _latest_eval(workdir), "disk_bytes": directory_bytes(workdir),
            "job": {"id": job, "state": job_states.get(job)} if job else None,
        })
    return {
        "directory": str(directory.resolve()),
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "runs": runs,
        "totals": {state: sum(run["state"] == state for run in runs) for state in STATES},
        "gpus": gpus,
        "unavailable": unavailable,
    }


def _human_bytes(size: float) -> str:
    """``du -h`` style: 512B, 1.5K, 230.0M, 2.1G."""
    for unit in "BKMG":
        if size < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "-"


def _row(run: dict[str, Any]) -> list[str]:
    step = "-" if run["step"] is None else str(run["step"])
    evaluation = run["eval"] or {}
    job = run["job"] or {}
    return [
        run["key"], run["state"], step if run["steps"] is None else f"{step}/{run['steps']}",
        "-" if run["loss"] is None else f"{run['loss']:.4f}",
        "-" if not run["tokens_per_second"] else f"{run['tokens_per_second']:,.0f}",
        "-" if run["eta_seconds"] is None else format_seconds(run["eta_seconds"]),
        "-" if evaluation.get("step") is None else str(evaluation["step"]),
        _percent(evaluation.get("exact_match")), _percent(evaluation.get("in_distribution")),
        _percent(evaluation.get("out_of_distribution")), _human_bytes(run["disk_bytes"]),
        job.get("id") or "-", job.get("state") or "-",
    ]


def render(snapshot: dict[str, Any]) -> str:
    """``snapshot`` as a fixed-width table, then the totals, the GPUs and the tools that did not answer."""
    rows = [HEADER, *(_row(run) for run in snapshot["runs"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [f"{snapshot['directory']}  {snapshot['time']}", ""]
    for row in rows:
        cells = [cell.ljust(w) if name in LEFT else cell.rjust(w) for cell, w, name in zip(row, widths, HEADER)]
        lines.append("  ".join(cells).rstrip())
    totals = ", ".join(f"{count} {state}" for state, count in snapshot["totals"].items())
    lines += ["", f"{len(snapshot['runs'])} runs: {totals}"]
    for gpu in snapshot["gpus"]:
        used, total = gpu["memory_used_mib"], gpu["memory_total_mib"]
        memory = f"{used:.0f}/{total:.0f} MiB" if used is not None and total is not None else "memory n/a"
        busy = "n/a" if gpu["utilization_percent"] is None else f"{gpu['utilization_percent']:.0f}%"
        lines.append(f"GPU {gpu['index']}: {busy} busy, {memory}")
    lines += [f"{tool} unavailable: {reason}" for tool, reason in snapshot["unavailable"].items()]
    return "\n".join(lines)
