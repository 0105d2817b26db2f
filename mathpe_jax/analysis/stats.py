"""Statistics for comparing PEs over seeds and problems, built on scipy and statsmodels.

Two kinds of evidence are kept apart: the spread of a metric over training seeds (bootstrap
interval, paired permutation test over seeds), and per-problem disagreement between two models
on the same problems (McNemar's exact test), which uses every problem rather than one number per
seed. Comparing many PEs pairwise is a family of tests, so p-values are Holm-adjusted.
Resampling takes a seed and passes scipy a generator as ``rng`` (scipy 1.15 and later), so every
figure is reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

if TYPE_CHECKING:
    from mathpe_jax.analysis.aggregate import Run

__all__ = [
    "ALPHA",
    "compare_labels",
    "holm",
    "mcnemar_paired",
    "paired_permutation",
    "rank_table",
    "seed_summary",
]

ALPHA = 0.05


def seed_summary(values: Sequence[float], seed: int = 0, n_resamples: int = 10_000) -> dict[str, Any]:
    """``{n, mean, std, ci95}`` of one metric over seeds: ``std`` is the sample deviation (ddof=1)
    and ``ci95`` a bootstrap percentile interval, both None below two seeds, where neither has a
    meaning. Identical values give ``[v, v]`` directly (scipy warns on such degenerate data)."""
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    summary: dict[str, Any] = {"n": n, "mean": float(data.mean()), "std": None, "ci95": None}
    if n < 2:
        return summary
    summary["std"] = float(data.std(ddof=1))
    if np.all(data == data[0]):
        summary["ci95"] = [float(data[0]), float(data[0])]
        return summary
    interval = stats.bootstrap(
        (data,),
        np.mean,
        confidence_level=0.95,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    summary["ci95"] = [float(interval.low), float(interval.high)]
    return summary


def _same_length(a: Sequence[Any], b: Sequence[Any]) -> None:
    """Paired tests need one verdict of each model per item; a length mismatch means the inputs
    were not paired, and silently truncating would test something else."""
    if len(a) != len(b):
        raise ValueError(f"paired inputs differ in length: {len(a)} and {len(b)}")


def mcnemar_paired(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict[str, Any]:
    """McNemar's exact test of two models' verdicts on the same problems, in the same order.

    Only discordant problems carry evidence: ``a_only`` (A right, B wrong) and ``b_only``; the
    exact test is the binomial test of ``a_only`` among the discordant ones at 1/2. ``statistic``
    is statsmodels' (the smaller discordant count).
    """
    _same_length(a_correct, b_correct)
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    result = mcnemar(table, exact=True)
    return {
        "n": int(a.size),
        "a_only": table[0][1],
        "b_only": table[1][0],
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
    }


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_permutation(a: Sequence[float], b: Sequence[float], n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that A and B have the same mean, from per-seed paired values (the same
    seed trained under both). Permuting within pairs swaps signs of the differences; scipy
    enumerates all sign patterns exactly when there are at most ``n_resamples`` of them."""
    _same_length(a, b)
    result = stats.permutation_test(
        (np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def holm(p_values: Mapping[str, float], alpha: float = ALPHA) -> dict[str, dict[str, Any]]:
    """Holm's step-down adjustment over a family of tests, by name: ``{name: {p_value,
    p_adjusted, reject}}``. It controls the family-wise error without assuming independence,
    which pairwise comparisons sharing a model do not have."""
    if not p_values:
        return {}
    names = list(p_values)
    reject, adjusted, _, _ = multipletests([p_values[name] for name in names], alpha=alpha, method="holm")
    return {
        name: {"p_value": float(p_values[name]), "p_adjusted": float(p), "reject": bool(r)}
        for name, p, r in zip(names, adjusted, reject)
    }


def rank_table(scores: Mapping[str, Mapping[str, float | None]]) -> dict[str, list[str]]:
    """``{label: {bucket: score}}`` -> ``{bucket: [labels, best first]}``. Higher is better; equal
    scores are ordered by label name so the table is reproducible. A label with no score for a
    bucket (missing or None: nothing evaluated there) is left out of that bucket's ranking rather
    than ranked last. Buckets keep the order in which they first appear."""
    buckets = list(dict.fromkeys(bucket for per_bucket in scores.values() for bucket in per_bucket))
    return {
        bucket: sorted(
            (label for label, per_bucket in scores.items() if per_bucket.get(bucket) is not None),
            key=lambda label: (-scores[label][bucket], label),
        )
        for bucket in buckets
    }


def _metric(run: Run, metric_path: tuple[str, ...]) -> float | None:
    """``results["eval"][k0][k1]...`` of one run; a missing key is an error naming the run."""
    value: Any = run.results.get("eval", {})
    for key in metric_path:
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"{run.path}: results.json has no eval.{'.'.join(metric_path)}")
        value = value[key]
    return value


def _by_seed(runs: Sequence[Run], label: str) -> dict[int | None, Run]:
    """One run per seed; two runs of a label with the same seed cannot be paired unambiguously."""
    by_seed: dict[int | None, Run] = {}
    for run in runs:
        if run.seed in by_seed:
            raise ValueError(f"{label}: two runs with seed {run.seed}: {by_seed[run.seed].path} and {run.path}")
        by_seed[run.seed] = run
    return by_seed


def _verdicts(run: Run, subset: tuple[str, Any] | None = None) -> dict[str, bool]:
    """Problem id -> symbolic verdict (the reported accuracy's), refusing duplicate ids; with
    ``subset`` (field, value), only the predictions whose field has that value."""
    verdicts: dict[str, bool] = {}
    for prediction in run.predictions:
        if subset is not None and prediction.get(subset[0]) != subset[1]:
            continue
        if prediction["id"] in verdicts:
            raise ValueError(f"{run.path}: problem id {prediction['id']!r} appears twice in predictions")
        verdicts[prediction["id"]] = bool(prediction["symbolic_correct"])
    return verdicts


def _pair_test(
    a_runs: dict[int | None, Run], b_runs: dict[int | None, Run], subset: tuple[str, Any] | None = None
) -> dict[str, Any] | None:
    """One McNemar test over the seeds both labels ran, pooling each seed's shared problems
    (pooling the paired lists sums the discordant counts over seeds); None with no shared seed."""
    seeds = sorted(set(a_runs) & set(b_runs), key=lambda s: (s is None, s or 0))
    if not seeds:
        return None
    a_correct: list[bool] = []
    b_correct: list[bool] = []
    for seed in seeds:
        a, b = _verdicts(a_runs[seed], subset), _verdicts(b_runs[seed], subset)
        shared = [problem for problem in a if problem in b]
        a_correct += [a[problem] for problem in shared]
        b_correct += [b[problem] for problem in shared]
    return {"seeds": seeds, **mcnemar_paired(a_correct, b_correct)}


def compare_labels(
    groups: Mapping[str, Sequence[Run]],
    metric_path: tuple[str, ...],
    seed: int = 0,
    n_resamples: int = 10_000,
    subset: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    """Every label's metric over seeds, and every pair of labels tested on their problems.

    Returns ``{"metric", "summaries": {label: seed_summary}, "pairs": {"A vs B": {seeds, n,
    a_only, b_only, statistic, p_value, p_adjusted, reject}}, "unpaired": ["A vs B", ...]}``.
    ``metric_path`` indexes ``results["eval"]`` (e.g. ``("out_of_distribution",
    "symbolic_accuracy")``); a run whose metric is null (nothing evaluated there) is left out of
    its label's summary, which its ``n`` shows. Pairs are labels in sorted order, A before B, runs
    paired by seed; the Holm adjustment is over all tested pairs. Pairs with no seed in common
    cannot be tested and are listed under ``unpaired``. ``subset`` (field, value) restricts the
    paired problems to the predictions with that value, e.g. ``("length_bucket",
    "out_of_distribution")`` or ``("length", 12)``, so a test speaks of the metric it sits beside.
    """
    summaries = {
        label: seed_summary(
            [value for run in runs if (value := _metric(run, metric_path)) is not None],
            seed=seed,
            n_resamples=n_resamples,
        )
        for label, runs in sorted(groups.items())
    }
    by_seed = {label: _by_seed(runs, label) for label, runs in groups.items()}
    tests: dict[str, dict[str, Any]] = {}
    unpaired: list[str] = []
    for a, b in itertools.combinations(sorted(groups), 2):
        test = _pair_test(by_seed[a], by_seed[b], subset)
        if test is None:
            unpaired.append(f"{a} vs {b}")
        else:
            tests[f"{a} vs {b}"] = test
    adjusted = holm({name: test["p_value"] for name, test in tests.items()})
    return {
        "metric": ".".join(metric_path),
        "subset": list(subset) if subset is not None else None,
        "summaries": summaries,
        "pairs": {name: {**test, **adjusted[name]} for name, test in tests.items()},
        "unpaired": unpaired,
    }
