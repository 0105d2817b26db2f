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
from mathpe_jax.run.layout import METRICS

__all__ = [
    "EFFICIENCY_PANELS",
    "accuracy_by_label",
    "accuracy_by_length",
    "attention_layer_means",
    "attention_profile",
    "efficiency",
    "efficiency_values",
    "error_classes",
    "grid_means",
    "label_colours",
    "operand_grid",
    "training_curves",
]

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


# (key in results["eval"]["efficiency"], axis label, factor): the panels of ``efficiency``, in order.
EFFICIENCY_PANELS: tuple[tuple[str, str, float], ...] = (
    ("train_tokens_per_second", "training tokens/s", 1.0),
    ("decode_tokens_per_second", "decoding tokens/s", 1.0),
    ("decode_seconds_per_problem", "latency per problem (ms)", 1000.0),
    ("params", "parameters", 1.0),
)


def _efficiency_field(run: Run, key: str) -> Any:
    """``eval.efficiency[key]`` of one run; the parameter count falls back to the top-level
    ``results["params"]``, which every run records even when its evaluation skipped the timings."""
    if key == "params":
        report = (run.results.get("eval") or {}).get("efficiency")
        if not (isinstance(report, dict) and "params" in report) and "params" in run.results:
            return run.results["params"]
    return _eval_field(run, "efficiency", key)


def efficiency_values(runs: Sequence[Run]) -> dict[str, list[float]]:
    """Per ``EFFICIENCY_PANELS`` key, the values of the given runs (one PE's seeds) in the unit the
    panel shows (latency in ms). Nulls, e.g. training throughput of a run that logged none, are
    left out rather than drawn as 0, as in ``accuracy_by_label``."""
    values: dict[str, list[float]] = {key: [] for key, _, _ in EFFICIENCY_PANELS}
    for run in runs:
        for key, _, factor in EFFICIENCY_PANELS:
            value = _efficiency_field(run, key)
            if value is not None:
                values[key].append(float(value) * factor)
    return values


def efficiency(groups: Groups, out: str | Path) -> Path:
    """The cost of each PE in four panels: training and decoding throughput, latency per problem
    and parameter count (``eval.efficiency``), each bar the seed mean with the worst and best seed
    as its error bar. Min-max rather than a bootstrap interval, because timings of a few seeds are
    not a sample whose mean the interval would describe: the spread is what a rerun may give. Each
    tick shows how many seeds the bar rests on.

    Timings are only comparable within one machine and one sweep: they depend on the hardware,
    its load, the batch size and the backend, none of which this figure shows."""
    runs = _require_runs(groups)
    colours = label_colours(list(runs))
    values = {label: efficiency_values(members) for label, members in runs.items()}
    labels = list(values)
    positions = np.arange(len(labels))
    figure = _figure(max(8.0, 1.6 * len(labels) + 4), 7.0)
    figure.set_layout_engine("constrained")  # keeps tick labels off the titles of the row below
    axes = figure.subplots(2, 2).ravel()
    for ax, (key, name, _) in zip(axes, EFFICIENCY_PANELS):
        data = [np.asarray(values[label][key]) for label in labels]
        means = [float(v.mean()) if v.size else math.nan for v in data]
        low = [float(v.mean() - v.min()) if v.size else 0.0 for v in data]
        high = [float(v.max() - v.mean()) if v.size else 0.0 for v in data]
        ax.bar(positions, means, yerr=[low, high], capsize=4, color=[colours[label] for label in labels])
        ax.set_xticks(positions, [f"{label}\nn={v.size}" for label, v in zip(labels, data)])
        ax.set_title(name)
    figure.suptitle("cost per positional encoding (seed mean, bars: min to max; one machine and sweep only)")
    return _save(figure, out)


# The two statistics of ``eval.attention`` drawn by ``attention_profile``, with their axis labels.
_ATTENTION_PANELS = (("entropy", "attention entropy (nats)"), ("mean_distance", "mean attention distance (positions)"))


def attention_layer_means(runs: Sequence[Run], stat: str) -> np.ndarray:
    """``[runs, layers]``: for each run, ``eval.attention[stat]`` (``[layers][heads]``) averaged
    over heads. Runs of one PE must have the same depth; a mismatch, or a field that is not a
    layers-by-heads table, is an error naming the run, since the seeds could not be averaged."""
    if not runs:
        raise ValueError("no runs to plot")
    rows = []
    for run in runs:
        table = _eval_field(run, "attention", stat)
        try:
            array = np.asarray(table, dtype=float)
        except (TypeError, ValueError):
            array = np.empty(0)
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"{run.path}: eval.attention.{stat} is not a non-empty [layers][heads] table")
        if rows and array.shape[0] != rows[0].size:
            raise ValueError(
                f"{run.path}: eval.attention.{stat} has {array.shape[0]} layers, {runs[0].path} has {rows[0].size}"
            )
        rows.append(array.mean(axis=1))
    return np.stack(rows)


def attention_profile(groups: Groups, out: str | Path) -> Path:
    """Attention entropy and mean attention distance against layer, one line per label: each
    layer's mean over heads, then the mean over seeds, with a band from the lowest to the highest
    seed. Shows where in depth a PE attends broadly or far back, which is what its bias on
    position is meant to change; single heads are averaged away here."""
    runs = _require_runs(groups)
    colours = label_colours(list(runs))
    figure = _figure(11.0, 4.5)
    figure.set_layout_engine("constrained")
    axes = figure.subplots(1, 2)
    for ax, (stat, name) in zip(axes, _ATTENTION_PANELS):
        for label, members in runs.items():
            per_layer = attention_layer_means(members, stat)
            layers = np.arange(per_layer.shape[1])
            colour = colours[label]
            ax.plot(layers, per_layer.mean(axis=0), marker="o", color=colour, label=label)
            ax.fill_between(layers, per_layer.min(axis=0), per_layer.max(axis=0), color=colour, alpha=0.2)
        ax.set_xlabel("layer")
        ax.set_ylabel(name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"{name} by layer")
    axes[0].legend(fontsize="small")
    figure.suptitle("attention per layer (mean over heads and seeds, band: min to max over seeds)")
    return _save(figure, out)
