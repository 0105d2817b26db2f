"""Each statistic against scipy/statsmodels called directly, or against values worked by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mathpe_jax.analysis import (
    compare_labels,
    find_runs,
    group_runs,
    holm,
    mcnemar_paired,
    paired_permutation,
    rank_table,
    seed_summary,
)
from tests.analysis.helpers import write_run

ACCURACIES = [0.61, 0.55, 0.72, 0.58, 0.66]


def test_seed_summary_mean_and_sample_std():
    summary = seed_summary(ACCURACIES)
    assert summary["n"] == 5
    assert summary["mean"] == pytest.approx(np.mean(ACCURACIES))
    assert summary["std"] == pytest.approx(np.std(ACCURACIES, ddof=1))
    assert summary["std"] != pytest.approx(np.std(ACCURACIES))  # not the population deviation


def test_seed_summary_interval_is_scipys_percentile_bootstrap():
    summary = seed_summary(ACCURACIES, seed=7, n_resamples=2000)
    direct = stats.bootstrap(
        (np.array(ACCURACIES),),
        np.mean,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert summary["ci95"] == pytest.approx([direct.low, direct.high])
    low, high = summary["ci95"]
    assert min(ACCURACIES) <= low < summary["mean"] < high <= max(ACCURACIES)
    assert seed_summary(ACCURACIES, seed=7, n_resamples=2000) == summary  # the seed fixes it


def test_seed_summary_with_too_few_or_identical_seeds():
    assert seed_summary([]) == {"n": 0, "mean": None, "std": None, "ci95": None}
    assert seed_summary([0.4]) == {"n": 1, "mean": 0.4, "std": None, "ci95": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy would warn on degenerate data
        assert seed_summary([0.3, 0.3, 0.3]) == {"n": 3, "mean": 0.3, "std": 0.0, "ci95": [0.3, 0.3]}


def test_mcnemar_counts_discordant_pairs_and_gives_the_exact_binomial_p_value():
    # 3 both right, 7 only A, 2 only B, 4 both wrong
    a = [True] * 3 + [True] * 7 + [False] * 2 + [False] * 4
    b = [True] * 3 + [False] * 7 + [True] * 2 + [False] * 4
    result = mcnemar_paired(a, b)
    assert (result["n"], result["a_only"], result["b_only"], result["statistic"]) == (16, 7, 2, 2.0)
    assert result["p_value"] == pytest.approx(stats.binomtest(2, 9, 0.5).pvalue)
    assert result["p_value"] == pytest.approx(2 * sum(math.comb(9, k) for k in range(3)) / 2**9)
    swapped = mcnemar_paired(b, a)
    assert (swapped["a_only"], swapped["b_only"]) == (2, 7)
    assert swapped["p_value"] == pytest.approx(result["p_value"])


def test_mcnemar_refuses_unpaired_lists():
    with pytest.raises(ValueError, match=r"\b3\b.*\b2\b"):
        mcnemar_paired([True, False, True], [True, False])


def test_paired_permutation_matches_scipy_and_the_exact_enumeration():
    a, b = [0.62, 0.58, 0.71, 0.66, 0.60], [0.55, 0.57, 0.64, 0.61, 0.62]
    direct = stats.permutation_test(
        (np.array(a), np.array(b)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,
        alternative="two-sided",
        rng=np.random.default_rng(0),
    )
    assert paired_permutation(a, b, n_resamples=10_000, seed=0) == pytest.approx(direct.pvalue)
    # Four seeds, all differences positive: of the 16 sign patterns only all-plus and all-minus
    # are as extreme, so p = 2/16.
    assert paired_permutation([0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.5, 0.6]) == pytest.approx(2 / 16)


def test_paired_permutation_of_identical_inputs_is_one():
    assert paired_permutation(ACCURACIES, ACCURACIES, n_resamples=1000, seed=3) == 1.0


def test_paired_permutation_refuses_unpaired_lists():
    with pytest.raises(ValueError, match="2 and 3"):
        paired_permutation([0.1, 0.2], [0.1, 0.2, 0.3])


def test_holm_against_a_hand_computation():
    # sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04, raised to 0.06 (monotone)
    adjusted = holm({"rope vs alibi": 0.01, "rope vs t5": 0.04, "alibi vs t5": 0.03})
    assert adjusted == {
        "rope vs alibi": {"p_value": 0.01, "p_adjusted": pytest.approx(0.03), "reject": True},
        "rope vs t5": {"p_value": 0.04, "p_adjusted": pytest.approx(0.06), "reject": False},
        "alibi vs t5": {"p_value": 0.03, "p_adjusted": pytest.approx(0.06), "reject": False},
    }
    assert holm({}) == {}


def test_rank_table_best_first_ties_by_name_and_missing_scores_left_out():
    scores = {
        "rope": {"8": 0.9, "16": 0.2},
        "alibi": {"8": 0.9, "16": 0.5},
        "t5": {"8": 0.95, "16": None},
        "nope": {"8": 0.1},
    }
    assert rank_table(scores) == {"8": ["t5", "alibi", "rope", "nope"], "16": ["alibi", "rope"]}
    assert list(rank_table(scores)) == ["8", "16"]


def _sweep(tmp_path):
    """rope and alibi on seeds 0 and 1; t5 on seed 5 only. Discordant counts rope vs alibi:
    seed 0: rope only right on p0, p1, alibi only on p2; seed 1: rope only on p0 (p9 is rope's
    alone and must not count)."""
    write_run(tmp_path / "rope0", "rope", 0, [True, True, False, True], ood_accuracy=0.6)
    write_run(tmp_path / "alibi0", "alibi", 0, [False, False, True, True], ood_accuracy=0.4)
    write_run(tmp_path / "rope1", "rope", 1, [True, True, False], ood_accuracy=0.7, ids=["p0", "p1", "p9"])
    write_run(tmp_path / "alibi1", "alibi", 1, [False, True], ood_accuracy=None)
    write_run(tmp_path / "t5", "t5", 5, [True], ood_accuracy=0.2)
    return group_runs(find_runs(tmp_path))


def test_compare_labels_pools_seeds_into_one_mcnemar_per_pair(tmp_path):
    report = compare_labels(_sweep(tmp_path), ("out_of_distribution", "symbolic_accuracy"), seed=1, n_resamples=500)

    assert report["metric"] == "out_of_distribution.symbolic_accuracy"
    assert report["summaries"]["rope"] == seed_summary([0.6, 0.7], seed=1, n_resamples=500)
    assert report["summaries"]["alibi"]["n"] == 1  # seed 1 evaluated nothing out of distribution
    assert report["unpaired"] == ["alibi vs t5", "rope vs t5"]

    pair = report["pairs"]["alibi vs rope"]
    assert pair["seeds"] == [0, 1]
    assert (pair["n"], pair["a_only"], pair["b_only"]) == (6, 1, 3)
    assert pair["p_value"] == pytest.approx(stats.binomtest(1, 4, 0.5).pvalue)
    assert pair["p_adjusted"] == pytest.approx(pair["p_value"])  # a family of one
    assert pair["reject"] is False


def test_compare_labels_adjusts_over_all_pairs(tmp_path):
    write_run(tmp_path / "a", "alibi", 0, [True] * 12)
    write_run(tmp_path / "r", "rope", 0, [False] * 12)
    write_run(tmp_path / "t", "t5", 0, [True] * 10 + [False] * 2)
    report = compare_labels(group_runs(find_runs(tmp_path)), ("in_distribution", "exact_match"))
    raw = {name: pair["p_value"] for name, pair in report["pairs"].items()}
    assert list(raw) == ["alibi vs rope", "alibi vs t5", "rope vs t5"]
    assert {name: pair["p_adjusted"] for name, pair in report["pairs"].items()} == {
        name: entry["p_adjusted"] for name, entry in holm(raw).items()
    }
    assert report["pairs"]["alibi vs rope"]["reject"] is True


def test_compare_labels_refuses_ambiguous_seeds_and_missing_metrics(tmp_path):
    write_run(tmp_path / "r0", "rope", 0, [True])
    write_run(tmp_path / "r0_again", "rope", 0, [True])
    with pytest.raises(ValueError, match="rope: two runs with seed 0"):
        compare_labels(group_runs(find_runs(tmp_path)), ("in_distribution", "exact_match"))
    with pytest.raises(ValueError, match=r"r0: results.json has no eval.gsm8k.symbolic_accuracy"):
        compare_labels(group_runs(find_runs(tmp_path)), ("gsm8k", "symbolic_accuracy"))
