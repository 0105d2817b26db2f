"""Hand-written run directories, as training and evaluation leave them, for analysis tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_run(
    path: Path,
    pe: str,
    seed: int,
    verdicts: Sequence[bool] = (),
    ood_accuracy: float | None = 0.5,
    name: str | None = None,
    ids: Sequence[str] | None = None,
    efficiency: dict[str, Any] | None = None,
    attention: dict[str, Any] | None = None,
) -> Path:
    """A synthetic-task run dir: config.json, results.json and one prediction per verdict (ids
    ``p0``, ``p1``, ... unless given); ``efficiency`` and ``attention`` become ``eval.efficiency``
    and ``eval.attention`` when given (absent otherwise, as in a run evaluated without them)."""
    path.mkdir(parents=True)
    config = {"name": name or pe, "seed": seed, "model": {"pe": {"name": pe}}, "task": {"name": "addition"}}
    (path / "config.json").write_text(json.dumps(config))
    accuracy = {"n": len(verdicts), "exact_match": ood_accuracy, "symbolic_accuracy": ood_accuracy}
    results: dict[str, Any] = {
        "config": config["name"],
        "pe": pe,
        "task": "addition",
        "step": 100,
        "params": 1000,
        "train": {"final_loss": 0.1},
        "eval": {
            "in_distribution": {"n": 4, "exact_match": 1.0, "symbolic_accuracy": 1.0},
            "out_of_distribution": accuracy,
            "by_length": {"8": {"n": 4, "exact_match": 1.0, "symbolic_accuracy": 1.0}},
        },
        "schema_version": 2,
        "provenance": {"commit": "0" * 40, "timestamp": "2025-01-01T00:00:00+00:00"},
    }
    if efficiency is not None:
        results["eval"]["efficiency"] = efficiency
    if attention is not None:
        results["eval"]["attention"] = attention
    (path / "results.json").write_text(json.dumps(results))
    ids = list(ids) if ids is not None else [f"p{i}" for i in range(len(verdicts))]
    lines = [
        json.dumps(
            {
                "id": problem,
                "correct": ok,
                "symbolic_correct": ok,
                "length": 8,
                "length_bucket": "long",
                "grade_status": "correct" if ok else "wrong",
            }
        )
        for problem, ok in zip(ids, verdicts)
    ]
    (path / "predictions.jsonl").write_text("".join(line + "\n" for line in lines))
    return path
