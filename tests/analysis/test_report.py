"""The report's statistics and sentences, on hand-written runs: paired tests restricted to a
bucket's problems agree with statsmodels on those problems alone, and every sentence quotes the
numbers of statistical_analysis.json; runs without results are named, never dropped in silence.
(Real runs, every file and the PDF: tests/test_compare.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from mathpe_jax.analysis import find_runs, group_runs
from mathpe_jax.analysis.documents import findings, headline_rows, verdicts
from mathpe_jax.analysis.report import build_report
from mathpe_jax.analysis.stats import compare_labels
from tools.report import main as report_main


def _run(path: Path, pe: str, seed: int, verdicts: dict[str, list[bool]]) -> None:
    """A run whose predictions fall in two buckets, each with its own verdicts."""
    path.mkdir(parents=True)
    config = {"name": pe, "seed": seed, "model": {"pe": {"name": pe}}, "task": {"name": "copy", "train_lengths": [1, 2]},
              "train": {"steps": 10}}
    (path / "config.json").write_text(json.dumps(config))
    lines, by_length = [], {}
    for bucket, length in (("in_distribution", 2), ("out_of_distribution", 4)):
        for i, ok in enumerate(verdicts[bucket]):
            lines.append({"id": f"{bucket}/{i}", "symbolic_correct": ok, "correct": ok, "length": length, "length_bucket": bucket})
        accuracy = sum(verdicts[bucket]) / len(verdicts[bucket])
        by_length[str(length)] = {"n": len(verdicts[bucket]), "exact_match": accuracy, "symbolic_accuracy": accuracy}
    everything = [line["symbolic_correct"] for line in lines]
    results = {
        "step": 10,
        "eval": {
            "exact_match": sum(everything) / len(everything),
            "symbolic_accuracy": sum(everything) / len(everything),
            "in_distribution": by_length["2"],
            "out_of_distribution": by_length["4"],
            "by_length": by_length,
        },
    }
    (path / "results.json").write_text(json.dumps(results))
    (path / "predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def _sweep(root: Path) -> Path:
    rng_a = {"in_distribution": [True] * 20, "out_of_distribution": [True] * 15 + [False] * 5}
    rng_b = {"in_distribution": [True] * 19 + [False], "out_of_distribution": [False] * 18 + [True] * 2}
    for seed in (0, 1):
        _run(root / "a" / f"seed{seed}", "nope", seed, rng_a)
        _run(root / "b" / f"seed{seed}", "rope", seed, rng_b)
    return root


def test_a_buckets_test_uses_that_buckets_problems_only(tmp_path):
    groups = group_runs(find_runs(_sweep(tmp_path)))
    test = compare_labels(groups, ("out_of_distribution", "symbolic_accuracy"), subset=("length_bucket", "out_of_distribution"))
    pair = test["pairs"]["nope vs rope"]
    # Per seed, problems 0-14 only nope solves, 15-17 neither, 18-19 only rope: pooled over 2 seeds.
    assert (pair["n"], pair["a_only"], pair["b_only"]) == (40, 30, 4)
    assert pair["p_value"] == mcnemar([[0, 30], [4, 6]], exact=True).pvalue
    assert test["subset"] == ["length_bucket", "out_of_distribution"]


def test_sentences_quote_the_statistics(tmp_path):
    report, statistics = build_report(_sweep(tmp_path))
    stats = statistics["studies"]["copy"]
    pair = stats["tests"]["out_of_distribution"]["pairs"]["nope vs rope"]
    sentence = next(s for s in findings(stats) if s.startswith("Beyond the training lengths"))
    assert "nope (0.750" in sentence and "rope (0.100" in sentence
    assert f"of {pair['n']} paired problems, nope alone solved 30 and rope alone 4" in sentence
    assert f"Holm-adjusted {pair['p_adjusted']:.2g}" in sentence
    assert any("On the training lengths, no significant difference" in s for s in findings(stats))
    header, rows = headline_rows(report["studies"]["copy"])
    assert header == ["arm", "seeds", "training lengths", "beyond training"]
    assert rows[0][:3] == ["nope", "2", "1.000 [1.000, 1.000]"]
    assert stats["ranks"]["out_of_distribution"] == ["nope", "rope"]
    assert verdicts(stats, "out_of_distribution").endswith("alpha = 0.05): nope > rope.")
    assert verdicts(stats, "in_distribution").endswith("nope ~ rope.")


@pytest.mark.slow  # the whole report: figures and the PDF
def test_runs_without_results_are_named_in_the_report_and_on_stderr(tmp_path, capsys):
    """A run stopped before its evaluation and one planned but never started: both arms are still
    reported, and every document and the command line say which runs they lack."""
    root = _sweep(tmp_path)
    (root / "b" / "seed1" / "results.json").unlink()
    planned = {f"{arm}/seed{seed}": {"config": f"configs/{arm}.py", "seed": seed, "overrides": [], "workdir": f"{arm}/seed{seed}"}
               for arm in ("a", "b") for seed in (0, 1, 2) if (arm, seed) != ("b", 2)}
    (root / "sweep.json").write_text(json.dumps({"runs": planned}))
    assert report_main([str(root)]) == 0
    named = "2 runs left out, with no results.json (failed, stopped or not evaluated yet)"
    assert capsys.readouterr().err.splitlines() == [f"warning: {named}: {root / 'a' / 'seed2'}, {root / 'b' / 'seed1'}"]
    report = json.loads((root / "comparison_report.json").read_text())
    assert report["missing"] == ["a/seed2", "b/seed1"]
    assert [run["seed"] for run in report["studies"]["copy"]["arms"]["rope"]["runs"]] == [0]
    for document in ("summary.md", "report.html"):
        assert f"{named}: a/seed2, b/seed1." in (root / document).read_text()
