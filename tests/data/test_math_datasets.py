import json
import re
from pathlib import Path

import datasets
import pytest

from mathpe_jax.data.math_datasets import default_data_dir, load_problems
from mathpe_jax.data.tasks import task_class
from mathpe_jax.data.tasks.gsm8k import gsm8k_answer


def _load(name, split, source=None, limit=None):
    """``load_problems`` in the record format of the dataset task ``name``."""
    return load_problems(task_class(name).format, split, source, limit)


@pytest.mark.parametrize(
    ("name", "split", "count"),
    [("gsm8k", "train", 7473), ("gsm8k", "test", 1319), ("math", "train", 12000), ("math", "test", 500)],
)
def test_counts(data_dir, name, split, count):
    assert len(_load(name, split, data_dir)) == count


def test_gsm8k_fields_ids_and_gold_answers(data_dir):
    problems = _load("gsm8k", "train", data_dir)
    first = problems[0]
    assert first.id == "gsm8k/train/0" and first.question.startswith("Natalia sold clips")
    assert first.solution.endswith("\n#### 72") and first.answer == "72" and first.meta == {}
    assert problems[-1].id == "gsm8k/train/7472"
    answers = [p.answer for p in problems]
    assert all("," not in a for a in answers) and sum(a.startswith("-") for a in answers) == 3
    assert all(a.lstrip("-").isdigit() for a in answers)  # every GSM8K final answer is an integer


def test_gsm8k_answer_takes_the_last_marker_and_strips_commas():
    assert gsm8k_answer("#### 3 apples\nso\n#### 1,450,000") == "1450000"
    with pytest.raises(ValueError, match="no '#### '"):
        gsm8k_answer("72")


def test_math_fields_meta_and_answers(data_dir):
    problems = _load("math", "test", data_dir)
    assert problems[0].id == "test/precalculus/807.json"
    assert problems[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert all("\\boxed" in p.solution for p in problems)
    assert sorted({p.meta["level"] for p in problems}) == [1, 2, 3, 4, 5]
    assert len({p.meta["subject"] for p in problems}) == 7
    levels = [p.meta["level"] for p in _load("math", "train", data_dir)]
    assert levels.count(None) == 2  # the two "Level ?" geometry problems


def test_limit_keeps_the_first_problems(data_dir):
    assert [p.id for p in _load("gsm8k", "test", data_dir, limit=3)] == [f"gsm8k/test/{i}" for i in range(3)]


def test_default_source_is_the_shared_data_or_the_env_var(monkeypatch, data_dir, tmp_path):
    monkeypatch.delenv("MATHPE_DATA_DIR", raising=False)
    assert default_data_dir() == Path(__file__).resolve().parents[2].parent / "shared" / "data"
    monkeypatch.setenv("MATHPE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.setenv("MATHPE_DATA_DIR", str(data_dir))
    assert _load("math", "test", limit=1)[0].id == "test/precalculus/807.json"


def _write(tmp_path, name, split, lines):
    path = tmp_path / name / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"question": "1+1?", "answer": ', "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({"question": "1+1?"}), "field 'answer' is missing or not a string"),
        (json.dumps({"question": 7, "answer": "#### 2"}), "field 'question' is missing or not a string"),
        (json.dumps({"question": "1+1?", "answer": "2"}), "field 'answer' has no '#### ' final-answer line"),
    ],
)
def test_malformed_line_is_named_by_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path, "gsm8k", "train", [GOOD, GOOD, bad, GOOD])
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}:3: {message}") as info:
        _load("gsm8k", "train", tmp_path)
    assert "\n" not in str(info.value)


def test_math_line_without_unique_id_is_named(tmp_path):
    row = {"problem": "p", "solution": "\\boxed{1}", "answer": "1"}
    path = _write(tmp_path, "math", "test", [json.dumps(row)])
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}:1: field 'unique_id'"):
        _load("math", "test", tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "aime"}, ValueError, "config.task.name='aime': unknown task"),
        ({"split": "validation"}, FileNotFoundError, "gsm8k/validation.jsonl"),
        ({"source": "../no/such/dir"}, FileNotFoundError, "../no/such/dir is neither"),
        ({"limit": 0}, ValueError, "limit=0"),
    ],
)
def test_bad_arguments_are_named(data_dir, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        _load(**{"name": "gsm8k", "split": "test", "source": data_dir, **kwargs})
    assert "\n" not in str(info.value)


def test_hub_ids_go_to_load_dataset_with_their_config(monkeypatch):
    calls = []
    math500 = {
        "problem": "p",
        "solution": "so \\boxed{4}",
        "answer": "4",
        "subject": "Algebra",
        "level": 2,
        "unique_id": "test/algebra/1.json",
    }
    gsm8k = {"question": "q", "answer": "so\n#### 1,000"}

    def fake_load(path, config, split):
        calls.append((path, config, split))
        return datasets.Dataset.from_list([gsm8k if "gsm8k" in path else math500] * 3)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert [p.answer for p in _load("gsm8k", "test", "openai/gsm8k", limit=2)] == ["1000", "1000"]
    problem = _load("math", "test", "HuggingFaceH4/MATH-500")[0]
    assert (problem.id, problem.answer, problem.meta) == (
        "test/algebra/1.json",
        "4",
        {"subject": "Algebra", "level": 2},
    )
    _load("gsm8k", "train", "someone/gsm8k-copy:socratic")
    assert calls == [
        ("openai/gsm8k", "main", "test"),
        ("HuggingFaceH4/MATH-500", None, "test"),
        ("someone/gsm8k-copy", "socratic", "train"),
    ]


def test_hub_dataset_with_other_fields_is_named(monkeypatch):
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda *a, **k: datasets.Dataset.from_list([{"problem": "p", "type": "Algebra"}]),
    )
    with pytest.raises(
        ValueError, match=r"owner/math split test lacks the math fields \['solution', 'answer', 'unique_id'\]"
    ):
        _load("math", "test", "owner/math")


@pytest.mark.parametrize(("name", "hub_id"), [("gsm8k", "openai/gsm8k"), ("math", "HuggingFaceH4/MATH-500")])
def test_missing_local_data_suggests_a_hub_source(monkeypatch, tmp_path, name, hub_id):
    from mathpe_jax.errors import UserError

    monkeypatch.setenv("MATHPE_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(UserError, match=f"--config.task.source={hub_id}"):
        _load(name, "train")
    monkeypatch.setenv("MATHPE_DATA_DIR", str(tmp_path))  # a directory without the dataset's files
    with pytest.raises(UserError, match=rf"{name}/train.jsonl.*--config.task.source={hub_id}"):
        _load(name, "train")
