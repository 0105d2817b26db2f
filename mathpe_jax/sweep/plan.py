"""A sweep's plan: the runs that (config, seed) pairs make, their directories and their commands.

A config is named as ``main`` takes it (``configs/rope.py`` or ``configs/experiments/copy_cpu.py:t5``).
A file given without an argument whose module defines ``SWEEP`` (the experiment presets) stands for
one config per entry, so ``configs/experiments/copy_cpu.py`` is the six-PE copy study. Each run goes
to ``OUT/<config.name>/seed<k>``; the plan is recorded in ``OUT/sweep.json``, and a later sweep of
``OUT`` must plan every recorded run again with the same command (it may add arms and seeds), so a
directory never mixes two studies.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.run.layout import SWEEP, NotAJsonObject, read_json_object, write_json_atomic

__all__ = ["PlannedRun", "check_plan", "expand_configs", "plan_runs", "read_plan", "record_plan"]


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: ``config`` as ``main`` takes it, the seed, the overrides, its directory."""

    name: str  # the config's own name (config.name): the label of its arm in the report
    config: str
    seed: int
    overrides: tuple[str, ...]
    workdir: Path

    @property
    def key(self) -> str:
        return f"{self.name}/seed{self.seed}"

    def arguments(self) -> list[str]:
        """``main``'s arguments for this run (everything after ``python -m mathpe_jax.main``)."""
        return [f"--config={self.config}", f"--workdir={self.workdir}", f"--config.seed={self.seed}", *self.overrides]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mathpe_jax.main", *self.arguments()]

    def record(self) -> dict[str, Any]:
        """The run as ``sweep.json`` keeps it; the workdir relative to the sweep directory, so that
        the same sweep named by a relative or an absolute ``--out`` is the same record."""
        return {"config": self.config, "seed": self.seed, "overrides": list(self.overrides), "workdir": self.key}


def _sweep_entries(path: str) -> tuple[str, ...] | None:
    """The ``SWEEP`` tuple of config file ``path``, or None when it has none."""
    spec = importlib.util.spec_from_file_location(f"_mathpe_sweep_{Path(path).stem}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - loading it again through cli gives the one-line error
        return None
    entries = getattr(module, "SWEEP", None)
    return tuple(str(e) for e in entries) if entries else None


def expand_configs(configs: Sequence[str]) -> list[str]:
    """``configs`` with each preset file (a file with ``SWEEP``, given without ``:argument``)
    replaced by one ``file:entry`` per entry."""
    expanded: list[str] = []
    for config in configs:
        if ":" not in config and Path(config).is_file() and (entries := _sweep_entries(config)):
            expanded += [f"{config}:{entry}" for entry in entries]
        else:
            expanded.append(config)
    return expanded


def _override_value(overrides: Sequence[str], key: str) -> str | None:
    value = None
    for override in overrides:
        if override.startswith(f"--config.{key}="):
            value = override.split("=", 1)[1]
    return value


def plan_runs(configs: Sequence[str], seeds: Sequence[int], out: str | Path, overrides: Sequence[str] = ()) -> list[PlannedRun]:
    """Every (config, seed) run, configs in the order given, each config's seeds in order.

    Each config file is loaded and every override checked against it first, so a typo stops the
    sweep in one line before any run starts. Two configs with the same ``name`` are refused: their
    runs would share directories and one label.
    """
    if not configs:
        raise UserError("--configs: name at least one config file")
    if not seeds:
        raise UserError("--seeds: at least one seed")
    for override in overrides:
        if not override.startswith("--config.") or "=" not in override:
            raise UserError(f"{override}: overrides take the form --config.KEY=VALUE")
    out = Path(out)
    runs: list[PlannedRun] = []
    sources: dict[str, str] = {}
    for config in expand_configs(configs):
        loaded = cli.load_config_file(config)
        for override in overrides:
            cli.check_override("config", override[len("--config.") :].split("=", 1)[0], loaded)
        if any(o.startswith("--config.seed=") for o in overrides):
            raise UserError("--config.seed: a sweep sets each run's seed; use --seeds")
        name = _override_value(overrides, "name") or str(loaded.name)
        if name in sources:
            raise UserError(f"configs {sources[name]} and {config} share the name {name!r}; give each its own config.name")
        sources[name] = config
        runs += [PlannedRun(name, config, seed, tuple(overrides), out / name / f"seed{seed}") for seed in seeds]
    return runs


def read_plan(out: str | Path) -> dict[str, dict[str, Any]]:
    """``OUT/sweep.json``'s runs by key (``name/seed<k>``); empty when the sweep is new."""
    path = Path(out) / SWEEP
    try:
        record = read_json_object(path)
    except NotAJsonObject as error:
        raise _not_a_record(path, error.reason) from None
    if record is None:
        return {}
    if not isinstance(record.get("runs"), dict):
        raise _not_a_record(path, 'no "runs" object')
    return dict(record["runs"])


def _not_a_record(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: not a sweep record ({reason}); move it aside or choose another --out")


def check_plan(out: str | Path, runs: Sequence[PlannedRun]) -> None:
    """Refuses ``runs`` when ``OUT/sweep.json`` records another study, naming the first setting that
    differs: a recorded run planned now with another config or other overrides, or not planned at
    all (its arm, or its seed, left out). A sweep may add arms and seeds, never drop or change one,
    so every report of ``OUT`` is of one study. Reads only."""
    out = Path(out)
    planned = {run.key: run for run in runs}
    for key, before in read_plan(out).items():
        run = planned.get(key)
        if run is None:
            name, seed = key.rsplit("/seed", 1)
            seeds = sorted(r.seed for r in runs if r.name == name)
            left_out = (f"seed {seed} of arm {name!r}, which --seeds {len(seeds)} leaves out" if seeds
                        else f"arm {name!r} ({before.get('config')}), which --configs leaves out")
            raise UserError(f"{out / SWEEP}: {out} holds {left_out}; use another --out for a different study")
        planned_now = {k: v for k, v in run.record().items() if k != "workdir"}  # the workdir follows from the key
        changed = next((k for k, v in planned_now.items() if before.get(k) != v), None)
        if changed is not None:
            raise UserError(
                f"{out / SWEEP}: run {key} was planned with {changed}={before.get(changed)!r}, "
                f"now {planned_now[changed]!r}; use another --out for a different study"
            )


def record_plan(out: str | Path, runs: Sequence[PlannedRun]) -> None:
    """Adds ``runs`` to ``OUT/sweep.json`` once ``check_plan`` accepts them. Written atomically."""
    out = Path(out)
    check_plan(out, runs)
    recorded = read_plan(out) | {run.key: run.record() for run in runs}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / SWEEP, {"runs": recorded})
