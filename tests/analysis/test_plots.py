"""Sweep figures: each writes a real, non-blank PNG from fake runs, and missing inputs are named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image as mpimg

from mathpe_jax.analysis import (
    Run,
    accuracy_by_label,
    accuracy_by_length,
    error_classes,
    grid_means,
    label_colours,
    operand_grid,
    training_curves,
)
from tests.analysis.helpers import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path: Path, pe: str, seed: int, shift: float) -> Run:
    """A run of ``pe`` whose results carry by_length, grid and error classes (helpers.write_run
    writes only one length, so the eval section is extended here) and a metrics.jsonl."""
    path = write_run(tmp_path / f"{pe}-{seed}", pe, seed, verdicts=[True, False], ood_accuracy=0.2 + shift)
    results: dict[str, Any] = json.loads((path / "results.json").read_text())
    results["eval"]["by_length"] = {
        str(n): {"n": 4, "exact_match": acc, "symbolic_accuracy": acc}
        for n, acc in zip((4, 8, 12, 16), (1.0, 0.9 - shift, 0.5 - shift, 0.1))
    }
    results["eval"]["grid"] = {
        str(a): {str(b): {"n": 4, "exact_match": None, "symbolic_accuracy": (a + b) / 20 + shift} for b in (2, 4, 6)}
        for a in (2, 4)
    }
    results["eval"]["error_classes"] = {"correct": 3 + seed, "wrong_digit": 2, "truncated": seed}
    (path / "results.json").write_text(json.dumps(results))
    lines = [{"step": s, "loss": 2.0 / (s + 1) + shift} for s in range(0, 100, 10)]
    lines.append({"step": 100, "tokens_per_second": 5.0})
    (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return Run.read(path)


@pytest.fixture
def groups(tmp_path: Path) -> dict[str, list[Run]]:
    return {pe: [_run(tmp_path, pe, seed, 0.1 * i + 0.01 * seed) for seed in (0, 1, 2)] for i, pe in enumerate(["rope", "alibi"])}


def _assert_png(path: Path) -> None:
    """A PNG file of some size whose pixels are not all the same (something was drawn)."""
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert float(np.var(pixels)) > 0


def test_accuracy_by_label(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    out = tmp_path / "figs" / "ood.png"
    assert accuracy_by_label(groups, ("out_of_distribution", "symbolic_accuracy"), out) == out
    _assert_png(out)


def test_accuracy_by_length(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    out = accuracy_by_length(groups, tmp_path / "length.png", train_range=(4, 8))
    _assert_png(out)


def test_operand_grid_single_run_and_group(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    _assert_png(operand_grid(groups["rope"][0], tmp_path / "one.png"))
    _assert_png(operand_grid(groups["rope"], tmp_path / "all.png"))


def test_training_curves(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    _assert_png(training_curves(groups, tmp_path / "loss.png"))


def test_error_classes(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    _assert_png(error_classes(groups, tmp_path / "errors.png"))


def test_grid_means_average_seeds_and_keep_missing_cells_blank(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "rope", seed, 0.1 * seed) for seed in (0, 1)]
    results = runs[1].results["eval"]["grid"]
    results["4"]["6"]["symbolic_accuracy"] = None
    del results["2"]["6"]
    rows, columns, means = grid_means(runs)
    assert rows == [2, 4] and columns == [2, 4, 6]
    assert means[0, 0] == pytest.approx((0.2 + 0.3) / 2)
    assert means[0, 2] == pytest.approx(0.4)  # only seed 0 evaluated this cell
    assert means[1, 2] == pytest.approx(0.5)  # seed 1's null is left out, not counted as 0


def test_label_colours_do_not_depend_on_order() -> None:
    assert label_colours(["rope", "alibi", "nope"]) == label_colours(["nope", "rope", "alibi"])
    assert len(set(label_colours(["rope", "alibi", "nope"]).values())) == 3


def _one_line_error(call: Any, *needles: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_no_runs_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    _one_line_error(lambda: accuracy_by_label({}, ("out_of_distribution", "symbolic_accuracy"), out), "no runs")
    _one_line_error(lambda: accuracy_by_length({"rope": []}, out), "no runs")
    _one_line_error(lambda: training_curves({}, out), "no runs")
    _one_line_error(lambda: error_classes({}, out), "no runs")
    _one_line_error(lambda: operand_grid([], out), "no runs")
    assert not out.exists()


def test_missing_fields_are_named(tmp_path: Path) -> None:
    bare = Run.read(write_run(tmp_path / "bare", "rope", 0))
    del bare.results["eval"]["by_length"]
    out = tmp_path / "x.png"
    _one_line_error(lambda: accuracy_by_length({"rope": [bare]}, out), str(bare.path), "eval.by_length")
    _one_line_error(lambda: operand_grid(bare, out), "eval.grid")
    _one_line_error(lambda: error_classes({"rope": [bare]}, out), "eval.error_classes")
    _one_line_error(lambda: training_curves({"rope": [bare]}, out), "metrics.jsonl")
    _one_line_error(lambda: accuracy_by_label({"rope": [bare]}, ("nowhere", "acc"), out), "eval.nowhere")
    assert not out.exists()


def test_metrics_without_loss_is_an_error(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    run = groups["rope"][0]
    (run.path / "metrics.jsonl").write_text(json.dumps({"step": 1, "tokens_per_second": 3.0}) + "\n")
    _one_line_error(lambda: training_curves(groups, tmp_path / "x.png"), "no line with step and loss")
