"""Run directories as records: what a sweep produced, found on disk and grouped for comparison.

Only the files of the run-directory contract are read (``config.json``, ``results.json``,
``predictions.jsonl``), and a sweep's plan (``sweep.json``), through ``run.layout``, which loads no
JAX: analysing a sweep on a laptop must not need it. A run is identified by its saved config, which
is the config as run (with the keys added since filled in, as for every reader of a run);
``results.json`` may come from an older evaluation and is taken as written. A run without
``results.json`` cannot be compared, but it is never dropped in silence: ``find_missing`` names it,
so an arm with a seed fewer says why. A file that is not a JSON object is a one-line ``ValueError``
naming it (``layout.NotAJsonObject``), so a sweep with one broken run says which one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from mathpe_jax.run.layout import CONFIG, PREDICTIONS, RESULTS, SWEEP, read_config, read_json_object

__all__ = ["Run", "find_missing", "find_runs", "group_runs", "planned_runs"]


def _field(config: dict[str, Any], path: Path, *keys: str) -> Any:
    """``config[k0][k1]...``, or a one-line ValueError naming the file and the missing key."""
    value: Any = config
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"{path}: no {'.'.join(keys[: depth + 1])}")
        value = value[key]
    return value


@dataclasses.dataclass(frozen=True)
class Run:
    """One finished (or at least evaluated) run.

    ``label`` names the arm of a comparison and defaults to the PE name, because the study compares
    PEs; ``group`` is the config's own name (``config.name``, a sweep's label for a config file),
    for sweeps where several configs share a PE. ``predictions`` is read on first use: a sweep's
    summary tables need only ``results.json``, and prediction files can be large.
    """

    path: Path
    label: str
    group: str | None
    seed: int | None
    task: str
    config: dict[str, Any] = dataclasses.field(repr=False, compare=False)
    results: dict[str, Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def read(cls, path: str | Path, label: str | None = None) -> Run:
        """The run in directory ``path`` (which must hold config.json and results.json)."""
        path = Path(path)
        config_path = path / CONFIG
        config, results = read_config(path), read_json_object(path / RESULTS)
        if config is None or results is None:
            raise ValueError(f"{path}: a run needs both {CONFIG} and {RESULTS}")
        return cls(
            path=path,
            label=label if label is not None else str(_field(config, config_path, "model", "pe", "name")),
            group=config.get("name"),
            seed=config.get("seed"),
            task=str(_field(config, config_path, "task", "name")),
            config=config,
            results=results,
        )

    @functools.cached_property
    def predictions(self) -> list[dict[str, Any]]:
        """The lines of ``predictions.jsonl``, one graded problem each, in evaluation order."""
        path = self.path / PREDICTIONS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no predictions (was this run evaluated?)")
        lines = path.read_text(encoding="utf-8").splitlines()
        predictions = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                predictions.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
        return predictions


def _under(root: Path, name: str) -> list[Path]:
    """Files called ``name`` at or under ``root``, sorted, outside hidden folders: those hold a
    run's work in progress (an evaluation being staged), never a run."""
    return sorted(path for path in root.rglob(name) if not any(part.startswith(".") for part in path.relative_to(root).parts))


def find_runs(root: str | Path) -> list[Run]:
    """Every run directory at or under ``root``, sorted by path. A directory counts as a run once it
    has ``results.json``; one still training (config only) is skipped, not an error."""
    return [Run.read(results.parent) for results in _under(Path(root), RESULTS)]


def planned_runs(root: str | Path) -> dict[str, dict[str, Any]]:
    """The runs ``root/sweep.json`` plans, by key (``<name>/seed<k>``, also the run's directory
    under ``root``); empty when ``root`` is not a sweep directory."""
    path = Path(root) / SWEEP
    record = read_json_object(path)
    if record is None:
        return {}
    runs = record.get("runs")
    if not isinstance(runs, dict):
        raise ValueError(f"{path}: no runs")
    return runs


def find_missing(root: str | Path) -> list[Path]:
    """Run directories at or under ``root`` without ``results.json``, sorted: those begun
    (``config.json``) and those that ``root/sweep.json`` plans, begun or not. A run failed, stopped
    or still training has none; ``find_runs`` leaves it out, and a report names it instead."""
    root = Path(root)
    expected = {config.parent for config in _under(root, CONFIG)} | {root / key for key in planned_runs(root)}
    return sorted(path for path in expected if not (path / RESULTS).is_file())


def group_runs(runs: Iterable[Run], by: Literal["label", "group"] = "label") -> dict[str, list[Run]]:
    """Runs by ``label`` (PE) or by ``group`` (config name), labels in sorted order and each group's
    runs by seed then path, so that tables and pairings come out the same on every call."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(str(getattr(run, by)), []).append(run)
    return {
        key: sorted(members, key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
        for key, members in sorted(groups.items())
    }
