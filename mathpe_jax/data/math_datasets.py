"""Math datasets as one list of ``MathProblem``s, from local JSON Lines or the Hugging Face Hub.

Both sources go through ``datasets.load_dataset`` so a run reads the shared copies offline and an
online user can name a Hub dataset instead, with the same result type. Local files are checked line
by line first, because the ``json`` builder reports a malformed line without saying which one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mathpe_jax.errors import UserError
from mathpe_jax.hub import is_hub_id

if TYPE_CHECKING:  # imported where rows are loaded: ``datasets`` takes seconds to import
    import datasets


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


@dataclasses.dataclass(frozen=True)
class RowFormat:
    """How one dataset's records become ``MathProblem``s; each dataset task defines its own."""

    name: str
    fields: tuple[str, ...]  # required string fields
    to_problem: Callable[[dict[str, Any], str, int], MathProblem]
    hub_id: str  # the dataset's usual Hub copy, suggested when no local copy is found
    check: Callable[[dict[str, Any]], None] = lambda row: None  # raises ValueError for a bad record
    hub_configs: Mapping[str, str] = dataclasses.field(default_factory=dict)  # Hub ids that need a config


class DatasetNotFound(UserError, FileNotFoundError):
    """No local copy of a dataset where the run looks for it; the message says how to name a Hub copy."""


class MalformedDataset(UserError, ValueError):
    """A record that is not a usable problem; the message names the file and line (or Hub row)."""


def _not_found(fmt: RowFormat, what: str) -> DatasetNotFound:
    return DatasetNotFound(
        f"{what}; set MATHPE_DATA_DIR, or read {fmt.name} from the Hugging Face Hub with "
        f"--config.task.source={fmt.hub_id}"
    )


def default_data_dir() -> Path:
    """``$MATHPE_DATA_DIR``, else ``shared/data`` beside the repository checkout."""
    return Path(os.environ.get("MATHPE_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data")


def load_problems(
    fmt: RowFormat, split: str, source: str | Path | None = None, limit: int | None = None
) -> list[MathProblem]:
    """Problems of the dataset ``fmt`` reads, split ``split``, in file order.

    ``source`` is a directory holding ``<fmt.name>/<split>.jsonl`` (default ``default_data_dir()``)
    or a Hub dataset id (``owner/name``, or ``owner/name:config``). ``limit`` keeps the first
    ``limit`` problems.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit} must be a positive number of problems")
    source = default_data_dir() if source is None else source
    if Path(source).is_dir():
        path = Path(source) / fmt.name / f"{split}.jsonl"
        if not path.is_file():
            raise _not_found(fmt, f"dataset file not found: {path}")
        rows = _local_rows(fmt, path)
    elif is_hub_id(str(source).partition(":")[0]):
        rows = _hub_rows(fmt, str(source), split)
    else:
        raise _not_found(fmt, f"dataset source {source} is neither a directory nor a Hub id owner/name")
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    return [fmt.to_problem(row, split, index) for index, row in enumerate(rows.to_list())]


def _local_rows(fmt: RowFormat, path: Path) -> datasets.Dataset:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                _check(fmt, json.loads(line))
            except json.JSONDecodeError as err:
                raise MalformedDataset(f"{path}:{number}: not valid JSON ({err.msg})") from None
            except ValueError as err:
                raise MalformedDataset(f"{path}:{number}: {err}") from None
    import datasets

    return datasets.load_dataset("json", data_files=str(path), split="train")


def _hub_rows(fmt: RowFormat, source: str, split: str) -> datasets.Dataset:
    import datasets

    hub_id, _, config = source.partition(":")
    rows = datasets.load_dataset(hub_id, config or fmt.hub_configs.get(hub_id), split=split)
    missing = [field for field in fmt.fields if field not in rows.column_names]
    if missing:
        raise MalformedDataset(f"{source} split {split} lacks the {fmt.name} fields {missing}; it has {rows.column_names}")
    for index, row in enumerate(rows):
        try:
            _check(fmt, row)
        except ValueError as err:
            raise MalformedDataset(f"{source} split {split} row {index}: {err}") from None
    return rows


def _check(fmt: RowFormat, row: Any) -> None:
    """Raises ``ValueError`` (no location; callers add it) if ``row`` is not a usable record."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    for field in fmt.fields:
        if not isinstance(row.get(field), str):
            raise ValueError(f"field {field!r} is missing or not a string")
    fmt.check(row)
