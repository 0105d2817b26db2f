"""Example problems for the demo: each dataset task's test problems (GSM8K, MATH), and each served
model's own synthetic task.

A dataset source is listed only when its test split can be read (``MATHPE_DATA_DIR``, default the
shared data directory); a model trained on a synthetic task contributes its task's fixed test
problems at every evaluated length, written as that model reads and writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mathpe_jax.data.tasks import TASKS
from mathpe_jax.data.tasks.synthetic import SyntheticTask
from mathpe_jax.serve.errors import RequestError
from mathpe_jax.serve.models import ServedModel

__all__ = ["MAX_EXAMPLES", "ExampleBook"]

log = logging.getLogger(__name__)

MAX_EXAMPLES = 50


class ExampleBook:
    """The example sources of a server, read once at start-up (``MAX_EXAMPLES`` per source)."""

    def __init__(self, models: Sequence[ServedModel]):
        self._sources: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for cls in TASKS.values():
            if cls.kind != "dataset":
                continue
            try:
                problems = cls({"name": cls.name}).problems("test", MAX_EXAMPLES)
            except Exception as err:  # noqa: BLE001 - a missing dataset only hides its examples
                log.warning("no %s examples: %s", cls.name, err)
                continue
            examples = [{"problem": p.question, "gold": p.answer, "label": p.id} for p in problems]
            self._sources[cls.name] = (f"{cls.name} test problems", examples)
        for served in models:
            task = served.loaded.task
            if isinstance(task, SyntheticTask):
                label = f"{task.name}, as model {served.name} was trained"
                self._sources[served.name] = (label, _synthetic(task))

        # Which models take each source's problems (a character vocabulary refuses word problems).
        self._readers = {source: _readers(models, examples) for source, (_, examples) in self._sources.items()}

    def sources(self) -> list[dict[str, Any]]:
        return [
            {"id": source, "label": label, "models": self._readers[source]}
            for source, (label, _) in self._sources.items()
        ]

    def examples(self, source: str, count: int) -> list[dict[str, Any]]:
        if source not in self._sources:
            raise RequestError("source", f"unknown example source {source!r}; known: {sorted(self._sources)}", 404)
        return self._sources[source][1][:count]


def _readers(models: Sequence[ServedModel], examples: list[dict[str, Any]], probe: int = 5) -> list[str]:
    """The models whose prompt accepts the first ``probe`` problems."""
    readers = []
    for served in models:
        try:
            for example in examples[:probe]:
                served.prompt(example["problem"], None)
        except RequestError:
            continue
        readers.append(served.name)
    return readers


def _synthetic(task: SyntheticTask) -> list[dict[str, Any]]:
    """Test problems at every evaluated length, the same number of each, shortest first."""
    lengths = task.eval_lengths()
    per_length = max(1, MAX_EXAMPLES // len(lengths))
    out = []
    for length in lengths:
        for example in task.test_examples(length, per_length):
            out.append({"problem": example.prompt, "gold": example.answer, "label": f"length {length}"})
    return out[:MAX_EXAMPLES]
