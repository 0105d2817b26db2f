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
    attention_layer_means,
    attention_profile,
    efficiency,
    efficiency_values,
    error_classes,
    grid_means,
    label_colours,
    operand_grid,
    training_curves,
)
from tests.analysis.helpers import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _efficiency(shift: float) -> dict[str, Any]:
    """An ``eval.efficiency`` entry as evaluation writes it (timings shifted per run)."""
    return {
        "params": 1000,
        "train_tokens_per_second": 2500.0 + 1000 * shift,
        "train_tokens_per_second_source": "metrics.jsonl",
        "decode_tokens_per_second": 3500.0 - 1000 * shift,
        "decode_seconds_per_problem": 0.0025 + shift / 100,
        "decode_seconds_per_batch": 0.6,
        "decode_batch_size": 256,
        "decode_timed_problems": 1244,
    }


def _attention(shift: float, layers: int = 3, heads: int = 2) -> dict[str, Any]:
    """An ``eval.attention`` entry with ``[layers][heads]`` tables (entropy falling with depth)."""
    return {
        "entropy": [[2.0 - 0.4 * layer + 0.1 * head + shift for head in range(heads)] for layer in range(layers)],
        "mean_distance": [[1.0 + layer + head + shift for head in range(heads)] for layer in range(layers)],
        "bos_mass": [[0.1] * heads for _ in range(layers)],
        "n_rows": 10,
    }


def _run(tmp_path: Path, pe: str, seed: int, shift: float) -> Run:
    """A run of ``pe`` whose results carry by_length, grid and error classes (helpers.write_run
    writes only one length, so the eval section is extended here), efficiency and attention
    entries, and a metrics.jsonl."""
    path = write_run(
        tmp_path / f"{pe}-{seed}",
        pe,
        seed,
        verdicts=[True, False],
        ood_accuracy=0.2 + shift,
        efficiency=_efficiency(shift),
        attention=_attention(shift),
    )
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


def test_efficiency(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    out = tmp_path / "figs" / "cost.png"
    assert efficiency(groups, out) == out
    _assert_png(out)


def test_attention_profile(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    out = tmp_path / "figs" / "attention.png"
    assert attention_profile(groups, out) == out
    _assert_png(out)


def test_efficiency_values_convert_latency_and_fall_back_to_params(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "rope", seed, 0.1 * seed) for seed in (0, 1)]
    del runs[1].results["eval"]["efficiency"]["params"]
    runs[1].results["params"] = 2000
    runs[1].results["eval"]["efficiency"]["train_tokens_per_second"] = None
    values = efficiency_values(runs)
    assert values["decode_seconds_per_problem"] == pytest.approx([2.5, 3.5])  # ms
    assert values["decode_tokens_per_second"] == pytest.approx([3500.0, 3400.0])
    assert values["params"] == [1000.0, 2000.0]  # eval.efficiency.params, else results["params"]
    assert values["train_tokens_per_second"] == [2500.0]  # a null is left out, not counted as 0


def test_attention_layer_means_average_heads(tmp_path: Path) -> None:
    table = {"entropy": [[1.0, 3.0], [0.0, 0.5]], "mean_distance": [[2.0, 2.0], [4.0, 8.0]]}
    runs = [
        Run.read(write_run(tmp_path / "a", "rope", 0, attention=table)),
        Run.read(write_run(tmp_path / "b", "rope", 1, attention={"entropy": [[3.0, 3.0], [1.0, 1.5]]})),
    ]
    assert attention_layer_means(runs, "entropy").tolist() == [[2.0, 0.25], [3.0, 1.25]]
    assert attention_layer_means(runs[:1], "mean_distance").tolist() == [[2.0, 6.0]]
    missing = "eval.attention.mean_distance"
    _one_line_error(lambda: attention_layer_means(runs, "mean_distance"), str(runs[1].path), missing)


def test_attention_layer_means_reject_mixed_depths_and_bad_tables(tmp_path: Path) -> None:
    deep = Run.read(write_run(tmp_path / "deep", "rope", 0, attention=_attention(0.0, layers=3)))
    shallow = Run.read(write_run(tmp_path / "shallow", "rope", 1, attention=_attention(0.0, layers=2)))
    _one_line_error(lambda: attention_layer_means([deep, shallow], "entropy"), str(shallow.path), "2 layers")
    flat = Run.read(write_run(tmp_path / "flat", "rope", 2, attention={"entropy": [1.0, 2.0]}))
    _one_line_error(lambda: attention_layer_means([flat], "entropy"), str(flat.path), "[layers][heads]")


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
    _one_line_error(lambda: efficiency({}, out), "no runs")
    _one_line_error(lambda: attention_profile({"rope": []}, out), "no runs")
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
    _one_line_error(lambda: efficiency({"rope": [bare]}, out), str(bare.path), "eval.efficiency")
    _one_line_error(lambda: attention_profile({"rope": [bare]}, out), str(bare.path), "eval.attention")
    assert not out.exists()


def test_missing_efficiency_field_is_named(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    run = groups["alibi"][1]
    del run.results["eval"]["efficiency"]["decode_seconds_per_problem"]
    out = tmp_path / "x.png"
    _one_line_error(lambda: efficiency(groups, out), str(run.path), "eval.efficiency.decode_seconds_per_problem")
    del run.results["eval"]["efficiency"]["params"]
    del run.results["params"]
    _one_line_error(lambda: efficiency_values([run]), str(run.path), "eval.efficiency")
    assert not out.exists()


def test_metrics_without_loss_is_an_error(groups: dict[str, list[Run]], tmp_path: Path) -> None:
    run = groups["rope"][0]
    (run.path / "metrics.jsonl").write_text(json.dumps({"step": 1, "tokens_per_second": 3.0}) + "\n")
    _one_line_error(lambda: training_curves(groups, tmp_path / "x.png"), "no line with step and loss")
