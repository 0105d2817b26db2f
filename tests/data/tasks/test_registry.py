"""The task registry: one line per task, names in one place, and every task's config checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mathpe_jax.data.tasks import TASKS, make_task, task_class
from mathpe_jax.data.tasks.gsm8k import GSM8K
from mathpe_jax.grading.prediction import Completion
from tests.conftest import REPO_ROOT
from tests.helpers_run import tiny_config


def test_each_registry_key_is_its_class_name():
    assert {name: cls.name for name, cls in TASKS.items()} == {name: name for name in TASKS}
    assert {cls.kind for cls in TASKS.values()} == {"synthetic", "dataset"}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_accepts_the_base_config(name):
    config = tiny_config("rope", **{"task.name": name, "task.max_len": 64})
    task_class(name).check_config(config.task, config.model.max_len)
    assert make_task(config.task, 0).name == name


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


def test_a_dataset_is_named_only_in_its_own_file():
    """Nothing else branches on the name; answer extraction keeps its style names for now."""
    package = REPO_ROOT / "mathpe_jax"
    naming = sorted(
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if GSM8K.name in _string_constants(path) and path.name != "extraction.py"
    )
    assert naming == ["data/tasks/gsm8k.py"]


def test_dataset_length_buckets_use_the_test_sets_tertiles():
    task = GSM8K({"template": "cot"})
    assert [task.length_bucket(n, (10.0, 20.0)) for n in (10, 11, 20, 21)] == ["short", "medium", "medium", "long"]
    with pytest.raises(ValueError, match="needs the test set's tertile edges"):
        task.length_bucket(5)


def test_dataset_grading_reads_the_answer_in_the_tasks_notation():
    task = GSM8K({"template": "cot"})
    right, cut = task.grade([
        Completion(problem_id="g/0", prompt=task.prompt("q"), gold="72", completion=" 48+24=72\n#### 72",
                   completion_tokens=9, ended=True, length=1, length_bucket="short"),
        Completion(problem_id="g/1", prompt="p", gold="72", completion=" 48+", completion_tokens=3, ended=False,
                   length=1, length_bucket="short"),
    ])
    assert (right.extracted, right.symbolic_correct, right.truncated) == ("72", True, False)
    assert (cut.symbolic_correct, cut.truncated, cut.error_class) == (False, True, "truncated")
