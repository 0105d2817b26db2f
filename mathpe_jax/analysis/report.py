"""The comparison report of a sweep directory: numbers, tests, figures, and the documents a reader gets.

``write_report(DIR)`` reads every run under ``DIR`` (run directories only, through ``aggregate``)
and writes, into ``DIR``:

- ``comparison_report.json``: per task, the arms (PEs) with their configs, per-seed runs, metric
  summaries over seeds (mean, standard deviation, bootstrap 95% interval), accuracy per length,
  which positions each PE never trained, efficiency, and the commands that reproduce the sweep;
- ``statistical_analysis.json``: per task and bucket (in distribution, out of distribution, each
  length), McNemar's exact test of every pair of arms on the same problems, Holm-adjusted, and the
  rank table;
- ``visualizations/*.png``, ``summary.md`` (one page), ``report.html`` (self-contained) and
  ``report.pdf``.

Runs without ``results.json`` (failed, stopped, not started) are named under ``missing`` in the
report and at the top of every document, and ``Written.warning`` names their directories for the
command line, so an arm with fewer seeds than planned never passes unnoticed.

Everything is derived from the run directories, so rerunning it on the same runs rewrites the same
report. A study is one task: runs of different tasks are never compared with each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mathpe_jax.analysis import plots
from mathpe_jax.analysis.aggregate import Run, find_missing, find_runs, group_runs, planned_runs
from mathpe_jax.analysis.documents import html_report, missing_text, pdf_report, summary_markdown
from mathpe_jax.analysis.stats import ALPHA, compare_labels, rank_table, seed_summary
from mathpe_jax.run.layout import PREDICTIONS, write_atomic, write_json_atomic

__all__ = ["FILES", "Written", "build_report", "write_report"]

REPORT_JSON = "comparison_report.json"
STATS_JSON = "statistical_analysis.json"
FIGURES = "visualizations"
SUMMARY = "summary.md"
HTML = "report.html"
PDF = "report.pdf"
FILES = (REPORT_JSON, STATS_JSON, SUMMARY, HTML, PDF)
# The buckets every synthetic study is tested on, with the words a reader sees.
BUCKETS = {"in_distribution": "training lengths", "out_of_distribution": "lengths beyond training"}
EFFICIENCY = {
    "params": ("parameters", 1.0),
    "train_tokens_per_second": ("training tokens/s", 1.0),
    "decode_tokens_per_second": ("decoding tokens/s", 1.0),
    "decode_seconds_per_problem": ("latency per problem (ms)", 1000.0),
    "peak_memory_bytes": ("peak memory (MB)", 1e-6),
}


@dataclasses.dataclass(frozen=True)
class Written:
    directory: Path
    figures: list[Path]
    missing: list[Path]  # run directories left out: no results.json

    @property
    def warning(self) -> str | None:
        """``warning: ...`` naming every run left out, for stderr; None when none is."""
        return f"warning: {missing_text([str(path) for path in self.missing])}" if self.missing else None

    @property
    def html(self) -> Path:
        return self.directory / HTML

    @property
    def pdf(self) -> Path:
        return self.directory / PDF


def _eval(run: Run, *keys: Any) -> Any:
    """``results["eval"][k0][k1]...``, or None where the run has no such entry."""
    value: Any = run.results.get("eval")
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _arms(runs: Sequence[Run]) -> tuple[str, dict[str, list[Run]]]:
    """Runs by PE, or by config name when one PE has two configs (then PE alone would pair runs of
    different studies)."""
    by_label = group_runs(runs, "label")
    clash = any(len({r.seed for r in members}) < len(members) for members in by_label.values())
    return ("group", group_runs(runs, "group")) if clash else ("label", by_label)


def _lengths(runs: Sequence[Run]) -> list[int]:
    return sorted({int(n) for run in runs for n in (_eval(run, "by_length") or {})})


def _config_digest(run: Run) -> dict[str, Any]:
    """The settings a reader needs to judge a study, from the run's own config."""
    c = run.config
    model, task, train = c.get("model", {}), c.get("task", {}), c.get("train", {})
    return {
        "task": task.get("name"),
        "train_lengths": task.get("train_lengths"),
        "test_lengths": task.get("test_lengths"),
        "reverse": task.get("reverse"),
        "unequal_operands": task.get("unequal_operands"),
        **{key: task.get(key) for key in ("index_hints", "zero_pad", "random_spaces", "spaces_around_numbers")},
        "model": {k: model.get(k) for k in ("width", "num_layers", "num_heads", "num_kv_heads", "mlp_dim", "max_len")},
        "train": {k: train.get(k) for k in ("steps", "batch_size", "learning_rate", "warmup_steps")},
        "init": (c.get("init") or {}).get("hf_dir") or None,
        "lora_rank": (c.get("lora") or {}).get("rank"),
        "examples_per_length": (c.get("eval") or {}).get("examples_per_length"),
    }


def _summaries(arms: dict[str, list[Run]], path: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    return {
        label: seed_summary([v for run in members if (v := _eval(run, *path)) is not None])
        for label, members in arms.items()
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _study(task: str, runs: Sequence[Run], directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report section and the statistics section of one task's runs."""
    by, arms = _arms(runs)
    synthetic = any(_eval(run, "by_length") for run in runs)
    headline = {"symbolic_accuracy": ("symbolic_accuracy",), "exact_match": ("exact_match",)}
    if synthetic:
        headline |= {bucket: (bucket, "symbolic_accuracy") for bucket in BUCKETS}
    lengths = _lengths(runs) if synthetic else []
    first = next(iter(arms.values()))[0]
    report: dict[str, Any] = {
        "task": task,
        "arms_by": by,
        "settings": _config_digest(first),
        "caveats": sorted({str(r.config["caveat"]) for r in runs if r.config.get("caveat")}),
        "arms": {},
        "by_length": {},
        "lengths": lengths,
    }
    for label, members in arms.items():
        coverage = _eval(members[0], "positions") or {}
        efficiency = {
            key: _mean([v * scale for run in members if isinstance(v := (_eval(run, "efficiency", key)), (int, float))])
            for key, (_, scale) in EFFICIENCY.items()
        }
        report["arms"][label] = {
            "pe": members[0].config.get("model", {}).get("pe"),
            "config_name": members[0].group,
            "caveat": members[0].config.get("caveat") or None,
            "runs": [
                {
                    "path": str(run.path.relative_to(directory)) if run.path.is_relative_to(directory) else str(run.path),
                    "seed": run.seed,
                    "step": run.results.get("step"),
                    "commit": (run.results.get("provenance") or {}).get("commit"),
                    "train_seconds": (run.results.get("provenance") or {}).get("train_seconds_total"),
                }
                for run in members
            ],
            "metrics": {name: _summaries({label: members}, path)[label] for name, path in headline.items()},
            "untrained": {k: coverage.get(k) for k in ("trained", "evaluated", "learned", "unit", "summary")} if coverage else None,
            "efficiency": efficiency,
            "config": {k: v for k, v in members[0].config.items() if k != "seed"},
        }
    for n in lengths:
        report["by_length"][str(n)] = _summaries(arms, ("by_length", str(n), "symbolic_accuracy"))
    stats: dict[str, Any] = {"task": task, "alpha": ALPHA, "tests": {}, "ranks": {}}
    families: dict[str, tuple[tuple[Any, ...], tuple[str, Any] | None]] = {"all": (("symbolic_accuracy",), None)}
    if synthetic:
        families |= {bucket: ((bucket, "symbolic_accuracy"), ("length_bucket", bucket)) for bucket in BUCKETS}
        shared = [n for n in lengths if all(_eval(run, "by_length", str(n)) for run in runs)]
        families |= {str(n): (("by_length", str(n), "symbolic_accuracy"), ("length", n)) for n in shared}
    have_predictions = all((run.path / PREDICTIONS).is_file() for run in runs)
    means: dict[str, dict[str, float | None]] = {label: {} for label in arms}
    for name, (path, subset) in families.items():
        if have_predictions and len(arms) > 1:
            stats["tests"][name] = compare_labels(arms, path, subset=subset)
            summaries = stats["tests"][name]["summaries"]
        else:
            summaries = _summaries(arms, path)
        for label in arms:
            means[label][name] = summaries[label]["mean"]
    stats["ranks"] = rank_table(means)
    if not have_predictions:
        stats["note"] = "some runs have no predictions.jsonl: no paired tests"
    return report, stats


def _commands(directory: Path) -> dict[str, Any]:
    """How to reproduce the sweep: the compare command and each run's own, from ``sweep.json``."""
    runs = planned_runs(directory)
    if not runs:
        return {}
    configs = list(dict.fromkeys(r["config"] for r in runs.values()))
    seeds = sorted({r["seed"] for r in runs.values()})
    overrides = list(dict.fromkeys(o for r in runs.values() for o in r["overrides"]))
    sweep = ["python", "tools/compare.py", "--configs", *configs, "--seeds", str(len(seeds)), "--out", str(directory), *overrides]
    return {
        "sweep": " ".join(sweep),
        "runs": {
            key: " ".join(["python", "-m", "mathpe_jax.main", f"--config={r['config']}", f"--workdir={directory / r['workdir']}",
                           f"--config.seed={r['seed']}", *r["overrides"]])
            for key, r in runs.items()
        },
    }


def _figures(task: str, study: dict[str, Any], runs: Sequence[Run], out: Path) -> list[dict[str, str]]:
    """Every figure of one study: ``[{"file", "caption"}]`` (files relative to the report)."""
    _, arms = _arms(runs)
    made: list[dict[str, str]] = []

    def add(name: str, caption: str, draw) -> None:
        try:
            path = draw(out / FIGURES / f"{task}_{name}.png")
        except ValueError as error:  # a field some run lacks: the figure is left out, and says why
            made.append({"file": "", "caption": f"{caption}: not drawn ({error})"})
            return
        made.append({"file": str(path.relative_to(out)), "caption": caption})

    train = study["settings"]["train_lengths"]
    if study["lengths"]:
        for bucket, words in BUCKETS.items():
            add(f"accuracy_{bucket}", f"Accuracy on {words}, seed mean and bootstrap 95% interval",
                lambda p, b=bucket: plots.accuracy_by_label(arms, (b, "symbolic_accuracy"), p))
        add("by_length", "Accuracy by length (shaded: training lengths; band: min to max over seeds)",
            lambda p: plots.accuracy_by_length(arms, p, tuple(train) if train else None))
    else:
        add("accuracy", "Accuracy, seed mean and bootstrap 95% interval",
            lambda p: plots.accuracy_by_label(arms, ("symbolic_accuracy",), p))
    for label, members in arms.items():
        if any(_eval(run, "grid") for run in members):
            add(f"grid_{label}", f"{label}: accuracy by the two operand lengths (mean over seeds)",
                lambda p, m=members: plots.operand_grid(m, p))
    add("training", "Training loss", lambda p: plots.training_curves(arms, p))
    add("efficiency", "Efficiency: parameters, tokens/s, latency (this machine only)", lambda p: plots.efficiency(arms, p))
    add("attention", "Attention entropy and distance per layer", lambda p: plots.attention_profile(arms, p))
    add("errors", "Error classes", lambda p: plots.error_classes(arms, p))
    return made


def build_report(directory: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report and statistics of every study under ``directory``, figures written as a side
    effect into ``directory/visualizations``."""
    directory = Path(directory)
    runs = find_runs(directory)
    if not runs:
        raise ValueError(f"{directory}: no evaluated run (no results.json under it)")
    report: dict[str, Any] = {
        "directory": str(directory),
        "missing": [path.relative_to(directory).as_posix() for path in find_missing(directory)],
        "commands": _commands(directory),
        "efficiency_columns": {key: words for key, (words, _) in EFFICIENCY.items()},
        "studies": {},
    }
    statistics: dict[str, Any] = {
        "method": (
            "Per-seed metrics are summarised by their mean, sample standard deviation and a bootstrap "
            "percentile 95% interval over seeds (scipy.stats.bootstrap). Two PEs are compared on the same "
            "test problems, trained with the same seed, by McNemar's exact test on the problems they "
            "disagree on (statsmodels), pooled over seeds; p-values of all pairs within one bucket are "
            "Holm-adjusted (statsmodels multipletests)."
        ),
        "studies": {},
    }
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)
    for task, members in sorted(by_task.items()):
        study, stats = _study(task, members, directory)
        study["figures"] = _figures(task, study, members, directory)
        report["studies"][task] = study
        statistics["studies"][task] = stats
    return report, statistics


def write_report(directory: str | Path) -> Written:
    """Writes every report file into ``directory`` (see the module docstring)."""
    directory = Path(directory)
    report, statistics = build_report(directory)
    # Each file through a temporary one, so a reader never sees half a report.
    write_json_atomic(directory / REPORT_JSON, report)
    write_json_atomic(directory / STATS_JSON, statistics)
    write_atomic(directory / SUMMARY, summary_markdown(report, statistics))
    write_atomic(directory / HTML, html_report(report, statistics, directory))
    write_atomic(directory / PDF, pdf_report(report, statistics, directory))
    figures = [directory / f["file"] for s in report["studies"].values() for f in s["figures"] if f["file"]]
    return Written(directory, figures, [directory / path for path in report["missing"]])
