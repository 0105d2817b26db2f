"""Figures of a sweep: one PNG per call, comparing PEs (labels) over their seeds.

Each function takes grouped runs (``group_runs``'s ``{label: [Run]}``) and an output path, writes
one PNG and returns its path. Figures are drawn on the Agg canvas directly (``Figure`` +
``FigureCanvasAgg``), so no display is needed and no pyplot state outlives a call: a figure is
referenced only here and is freed when the call returns. Every label keeps one colour across all
figures (sorted labels -> tab10), so a PE is recognisable from figure to figure. Missing inputs are
one-line ValueErrors naming the run and the missing field, because a sweep with one unevaluated run
should say which one rather than fail inside matplotlib.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathpe_jax.analysis.aggregate import Run
from mathpe_jax.analysis.stats import seed_summary

__all__ = [
    "accuracy_by_label",
    "accuracy_by_length",
    "error_classes",
    "grid_means",
    "label_colours",
    "operand_grid",
    "training_curves",
]

METRICS = "metrics.jsonl"

Groups = Mapping[str, Sequence[Run]]


def label_colours(labels: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """Sorted labels -> tab10 colours, cycling past ten, so the same set of PEs gets the same colour
    in every figure whatever order a caller passes them in."""
    cmap = matplotlib.colormaps["tab10"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(sorted(labels))}


def _require_runs(groups: Groups) -> dict[str, list[Run]]:
    """The groups with at least one run, sorted by label; none at all is an error, since an empty
    figure would look like a sweep where every PE scored nothing."""
    present = {label: list(runs) for label, runs in sorted(groups.items()) if runs}
    if not present:
        raise ValueError("no runs to plot")
    return present


def _eval_field(run: Run, *keys: str) -> Any:
    """``results["eval"][k0][k1]...`` of one run, or a one-line ValueError naming the run and key."""
    value: Any = run.results.get("eval")
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"{run.path}: results.json has no eval.{'.'.join(keys[: depth + 1])}")
        value = value[key]
    return value


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas, outside pyplot's registry of open figures."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``out`` (creating its folder) and return the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def accuracy_by_label(groups: Groups, metric_path: tuple[str, ...], out: str | Path) -> Path:
    """One bar per label: the seed mean of ``results["eval"][metric_path...]`` with its bootstrap
    95% interval as the error bar (none below two seeds, where ``seed_summary`` gives no interval).
    Null values (nothing evaluated there) are left out, as in ``compare_labels``; each tick shows
    how many seeds the bar rests on, so a bar of one seed is not read as a settled result."""
    runs = _require_runs(groups)
    colours = label_colours(list(runs))
    summaries = {
        label: seed_summary([v for run in members if (v := _eval_field(run, *metric_path)) is not None])
        for label, members in runs.items()
    }
    labels = list(summaries)
    means = [math.nan if s["mean"] is None else s["mean"] for s in summaries.values()]
    low = [0.0 if s["ci95"] is None else s["mean"] - s["ci95"][0] for s in summaries.values()]
    high = [0.0 if s["ci95"] is None else s["ci95"][1] - s["mean"] for s in summaries.values()]
    figure = _figure(max(4.0, 0.9 * len(labels) + 2), 4.0)
    ax = figure.add_subplot()
    positions = np.arange(len(labels))
    ax.bar(positions, means, yerr=[low, high], capsize=4, color=[colours[label] for label in labels])
    ax.set_xticks(positions, [f"{label}\nn={summaries[label]['n']}" for label in labels])
    metric = ".".join(metric_path)
    ax.set_xlabel("positional encoding")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: seed mean, bootstrap 95% interval")
    return _save(figure, out)


def accuracy_by_length(groups: Groups, out: str | Path, train_range: tuple[int, int] | None = None) -> Path:
    """Symbolic accuracy against evaluated length, one line per label: the mean over seeds, with a
    band from the worst to the best seed, and the training lengths (``train_range``, inclusive)
    shaded, so length generalisation reads as what happens to the right of the shaded span."""
    runs = _require_runs(groups)
    colours = label_colours(list(runs))
    figure = _figure(7.0, 4.5)
    ax = figure.add_subplot()
    if train_range is not None:
        ax.axvspan(train_range[0], train_range[1], color="0.85", label="training lengths")
    for label, members in runs.items():
        per_length: dict[int, list[float]] = {}
        for run in members:
            for length, entry in _eval_field(run, "by_length").items():
                if entry.get("symbolic_accuracy") is not None:
                    per_length.setdefault(int(length), []).append(float(entry["symbolic_accuracy"]))
        lengths = sorted(per_length)
        values = [np.asarray(per_length[n]) for n in lengths]
        colour = colours[label]
        ax.plot(lengths, [v.mean() for v in values], marker="o", color=colour, label=label)
        ax.fill_between(lengths, [v.min() for v in values], [v.max() for v in values], color=colour, alpha=0.2)
    ax.set_xlabel("evaluated length")
    ax.set_ylabel("symbolic accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("symbolic accuracy by length (mean over seeds, band: min to max)")
    ax.legend(fontsize="small")
    return _save(figure, out)


def grid_means(runs: Sequence[Run]) -> tuple[list[int], list[int], np.ndarray]:
    """Operand lengths of the rows (first operand) and columns (second), both ascending, and the
    seed mean of each cell's symbolic accuracy; a cell no run evaluated is NaN, not 0, so it is
    drawn blank rather than as a failure."""
    cells: dict[tuple[int, int], list[float]] = {}
    for run in runs:
        for len_a, row in _eval_field(run, "grid").items():
            for len_b, entry in row.items():
                values = cells.setdefault((int(len_a), int(len_b)), [])
                if entry.get("symbolic_accuracy") is not None:
                    values.append(float(entry["symbolic_accuracy"]))
    rows = sorted({a for a, _ in cells})
    columns = sorted({b for _, b in cells})
    means = np.full((len(rows), len(columns)), np.nan)
    for (len_a, len_b), values in cells.items():
        if values:
            means[rows.index(len_a), columns.index(len_b)] = float(np.mean(values))
    return rows, columns, means


def operand_grid(run_or_group: Run | Sequence[Run], out: str | Path) -> Path:
    """Heatmap of symbolic accuracy over the two operand lengths (``eval.grid``), averaged over the
    given runs (one PE's seeds), each cell annotated with its value so close shades can be told
    apart."""
    runs = [run_or_group] if isinstance(run_or_group, Run) else list(run_or_group)
    if not runs:
        raise ValueError("no runs to plot")
    rows, columns, means = grid_means(runs)
    if not rows:
        raise ValueError(f"{runs[0].path}: results.json has an empty eval.grid")
    figure = _figure(max(4.0, 0.7 * len(columns) + 2), max(3.5, 0.6 * len(rows) + 1.5))
    ax = figure.add_subplot()
    image = ax.imshow(means, cmap="viridis", vmin=0.0, vmax=1.0, origin="lower", aspect="auto")
    figure.colorbar(image, ax=ax, label="symbolic accuracy")
    for i, j in zip(*np.nonzero(np.isfinite(means))):
        value = means[i, j]
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color="black" if value > 0.5 else "white")
    ax.set_xticks(range(len(columns)), [str(n) for n in columns])
    ax.set_yticks(range(len(rows)), [str(n) for n in rows])
    ax.set_xlabel("second operand length")
    ax.set_ylabel("first operand length")
    labels = sorted({run.label for run in runs})
    ax.set_title(f"{', '.join(labels)}: symbolic accuracy by operand lengths (mean of {len(runs)} runs)")
    return _save(figure, out)


def _losses(run: Run) -> dict[int, float]:
    """Step -> loss from the run's ``metrics.jsonl``; lines without a loss (other logged scalars)
    are skipped, and a run with no loss at all is an error naming the file."""
    path = run.path / METRICS
    if not path.is_file():
        raise ValueError(f"{path}: no {METRICS} (training metrics are needed for the curves)")
    losses: dict[int, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
        if isinstance(record, dict) and "step" in record and record.get("loss") is not None:
            losses[int(record["step"])] = float(record["loss"])
    if not losses:
        raise ValueError(f"{path}: no line with step and loss")
    return losses


def training_curves(groups: Groups, out: str | Path) -> Path:
    """Training loss against step: each run faintly, and per label the mean over the runs that
    logged each step (seeds may log at different steps, or one may have stopped early)."""
    runs = _require_runs(groups)
    colours = label_colours(list(runs))
    figure = _figure(7.0, 4.5)
    ax = figure.add_subplot()
    for label, members in runs.items():
        colour = colours[label]
        per_step: dict[int, list[float]] = {}
        for run in members:
            losses = _losses(run)
            steps = sorted(losses)
            ax.plot(steps, [losses[s] for s in steps], color=colour, alpha=0.25, linewidth=0.8)
            for step, loss in losses.items():
                per_step.setdefault(step, []).append(loss)
        steps = sorted(per_step)
        ax.plot(steps, [float(np.mean(per_step[s])) for s in steps], color=colour, linewidth=2, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training loss (thick: mean over seeds, thin: each seed)")
    ax.legend(fontsize="small")
    return _save(figure, out)


def error_classes(groups: Groups, out: str | Path) -> Path:
    """Stacked bars of error-class counts (``eval.error_classes``) per label, summed over seeds,
    so what kind of mistake a PE makes is seen next to how many it makes. Classes keep the order
    in which results.json lists them."""
    runs = _require_runs(groups)
    totals: dict[str, dict[str, int]] = {}
    for label, members in runs.items():
        counts: dict[str, int] = {}
        for run in members:
            for name, count in _eval_field(run, "error_classes").items():
                counts[name] = counts.get(name, 0) + int(count)
        totals[label] = counts
    classes = list(dict.fromkeys(name for counts in totals.values() for name in counts))
    labels = list(totals)
    positions = np.arange(len(labels))
    cmap = matplotlib.colormaps["tab20"]
    figure = _figure(max(4.0, 0.9 * len(labels) + 3), 4.5)
    ax = figure.add_subplot()
    bottom = np.zeros(len(labels))
    for i, name in enumerate(classes):
        heights = np.array([totals[label].get(name, 0) for label in labels], dtype=float)
        ax.bar(positions, heights, bottom=bottom, color=cmap(i % cmap.N), label=name)
        bottom += heights
    ax.set_xticks(positions, labels)
    ax.set_xlabel("positional encoding")
    ax.set_ylabel("predictions (summed over seeds)")
    ax.set_title("error classes per positional encoding")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(figure, out)
