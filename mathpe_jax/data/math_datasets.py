"""GSM8K and MATH as one list of ``MathProblem``s, from local JSON Lines or the Hugging Face Hub.

Both sources go through ``datasets.load_dataset`` so a run reads the shared copies offline and an
online user can name a Hub dataset instead, with the same result type. Local files are checked line
by line first, because the ``json`` builder reports a malformed line without saying which one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from mathpe_jax.errors import UserError
from mathpe_jax.hub import is_hub_id


@dataclasses.dataclass(frozen=True)
class MathProblem:
    """One problem. ``answer`` is the gold final answer as graders compare it; ``solution`` is the
    worked solution (GSM8K's ends with its ``#### n`` line, MATH's holds ``\\boxed{...}``); ``meta``
    holds MATH's ``subject`` and ``level`` for per-category metrics."""

    id: str
    question: str
    solution: str
    answer: str
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def gsm8k_answer(solution: str) -> str:
    """The text after the last ``#### `` with thousands separators removed (``1,450,000`` -> ``1450000``)."""
    _, marker, tail = solution.rpartition("#### ")
    if not marker:
        raise ValueError("solution has no '#### ' final-answer line")
    return tail.strip().replace(",", "")


def _gsm8k(row: dict[str, Any], split: str, index: int) -> MathProblem:
    return MathProblem(f"gsm8k/{split}/{index}", row["question"], row["answer"], gsm8k_answer(row["answer"]))


def _math(row: dict[str, Any], split: str, index: int) -> MathProblem:
    del split, index  # MATH carries its own id: the problem's path in the original release
    meta = {key: row[key] for key in ("subject", "level") if key in row}
    return MathProblem(row["unique_id"], row["problem"], row["solution"], row["answer"], meta)


@dataclasses.dataclass(frozen=True)
class _Format:
    fields: tuple[str, ...]  # required string fields
    to_problem: Callable[[dict[str, Any], str, int], MathProblem]


FORMATS = {
    "gsm8k": _Format(("question", "answer"), _gsm8k),
    "math": _Format(("problem", "solution", "answer", "unique_id"), _math),
}
# Hub datasets that need a config name; "owner/name:config" chooses one for any other.
HUB_CONFIGS = {"openai/gsm8k": "main"}
# What to name in --config.task.source when the local copy is missing.
HUB_IDS = {"gsm8k": "openai/gsm8k", "math": "HuggingFaceH4/MATH-500"}


class DatasetNotFound(UserError, FileNotFoundError):
    """No local copy of a dataset where the run looks for it; the message says how to name a Hub copy."""


def _not_found(name: str, what: str) -> DatasetNotFound:
    return DatasetNotFound(
        f"{what}; set MATHPE_DATA_DIR, or read {name} from the Hugging Face Hub with "
        f"--config.task.source={HUB_IDS[name]}"
    )


def default_data_dir() -> Path:
    """``$MATHPE_DATA_DIR``, else ``shared/data`` beside the repository checkout."""
    return Path(os.environ.get("MATHPE_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data")


def load_problems(
    name: str, split: str, source: str | Path | None = None, limit: int | None = None
) -> list[MathProblem]:
    """Problems of dataset ``name`` ("gsm8k" or "math"), split ``split``, in file order.

    ``source`` is a directory holding ``<name>/<split>.jsonl`` (default ``default_data_dir()``) or a
    Hub dataset id such as ``openai/gsm8k`` or ``HuggingFaceH4/MATH-500``. ``limit`` keeps the first
    ``limit`` problems.
    """
    if name not in FORMATS:
        raise ValueError(f"unknown dataset name={name!r}; known: {sorted(FORMATS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit} must be a positive number of problems")
    source = default_data_dir() if source is None else source
    if Path(source).is_dir():
        path = Path(source) / name / f"{split}.jsonl"
        if not path.is_file():
            raise _not_found(name, f"dataset file not found: {path}")
        rows = _local_rows(name, path)
    elif is_hub_id(str(source).partition(":")[0]):
        rows = _hub_rows(name, str(source), split)
    else:
        raise _not_found(name, f"dataset source {source} is neither a directory nor a Hub id owner/name")
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    to_problem = FORMATS[name].to_problem
    return [to_problem(row, split, index) for index, row in enumerate(rows.to_list())]


def _local_rows(name: str, path: Path) -> datasets.Dataset:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                _check(name, json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            except ValueError as err:
                raise ValueError(f"{path}:{number}: {err}") from None
    return datasets.load_dataset("json", data_files=str(path), split="train")


def _hub_rows(name: str, source: str, split: str) -> datasets.Dataset:
    hub_id, _, config = source.partition(":")
    rows = datasets.load_dataset(hub_id, config or HUB_CONFIGS.get(hub_id), split=split)
    missing = [field for field in FORMATS[name].fields if field not in rows.column_names]
    if missing:
        raise ValueError(f"{source} split {split} lacks the {name} fields {missing}; it has {rows.column_names}")
    for index, row in enumerate(rows):
        try:
            _check(name, row)
        except ValueError as err:
            raise ValueError(f"{source} split {split} row {index}: {err}") from None
    return rows


def _check(name: str, row: Any) -> None:
    """Raises ``ValueError`` (no location; callers add it) if ``row`` is not a usable ``name`` record."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    for field in FORMATS[name].fields:
        if not isinstance(row.get(field), str):
            raise ValueError(f"field {field!r} is missing or not a string")
    if name == "gsm8k" and "#### " not in row["answer"]:
        raise ValueError("field 'answer' has no '#### ' final-answer line")
