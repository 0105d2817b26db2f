"""solve_math_problem and tools/solve.py on every kind of checkpoint, and their error messages."""

from __future__ import annotations

import json

import pytest

from mathpe_jax.inference import load_checkpoint
from mathpe_jax.solve import solve_math_problem
from tests import conftest
from tests.data.conftest import tiny_hf_tokenizer_dir  # noqa: F401 - fixture
from tests.helpers_hf import tiny_checkpoint

PROBLEM = "A train travels 120 miles in 2 hours. What is its speed?"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, tiny_hf_tokenizer_dir):  # noqa: F811
    return tiny_checkpoint(tmp_path_factory.mktemp("hf"), tiny_hf_tokenizer_dir)


@pytest.fixture(scope="module")
def loaded(hf_dir):
    return load_checkpoint(str(hf_dir))


def test_solves_with_a_hugging_face_directory(loaded):
    out = solve_math_problem(PROBLEM, loaded, max_new_tokens=8)
    assert out["prompt_token_ids"][0] == loaded.tokenizer.bos_id
    assert loaded.tokenizer.decode(out["prompt_token_ids"]).startswith("Question: " + PROBLEM)
    assert 1 <= len(out["completion_token_ids"]) <= 8
    assert out["completion"] == loaded.tokenizer.decode(out["completion_token_ids"])


def test_templates_change_the_prompt(loaded):
    plain = solve_math_problem(PROBLEM, loaded, template="none", max_new_tokens=1)
    assert loaded.tokenizer.decode(plain["prompt_token_ids"]) == PROBLEM


def test_converted_checkpoint_gives_the_same_solution(tmp_path, hf_dir, loaded):
    done = conftest.run_tool("convert_hf.py", f"--hf_dir={hf_dir}", f"--out={tmp_path / 'ours'}")
    assert done.returncode == 0, done.stderr[-2000:]
    ours = solve_math_problem(PROBLEM, str(tmp_path / "ours"), max_new_tokens=8)
    assert ours["completion_token_ids"] == solve_math_problem(PROBLEM, loaded, max_new_tokens=8)["completion_token_ids"]


@pytest.mark.parametrize(
    "problem,kwargs,message",
    [
        ("   ", {}, "the problem is empty"),
        ("x" * 20_001, {}, "the problem has 20001 characters"),
        (PROBLEM, {"max_new_tokens": 2000}, "exceeds the model's 1024 positions"),
        (PROBLEM, {"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
    ],
)
def test_bad_requests_give_one_line_errors(loaded, problem, kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_math_problem(problem, loaded, **kwargs)


def run_tool(*args):
    return conftest.run_tool("solve.py", *args)


def test_tool_prints_json(hf_dir):
    done = run_tool(f"--checkpoint={hf_dir}", f"--problem={PROBLEM}", "--max_new_tokens=4", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"completion", "answer", "prompt_token_ids", "completion_token_ids"} <= set(out)


def test_tool_reports_a_missing_checkpoint_in_one_line(tmp_path):
    done = run_tool(f"--checkpoint={tmp_path / 'nothing'}", f"--problem={PROBLEM}")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"error: checkpoint not found: {tmp_path / 'nothing'}"


def test_tool_reports_an_empty_problem_in_one_line(hf_dir):
    done = run_tool(f"--checkpoint={hf_dir}", "--problem=")
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1] == "error: the problem is empty"
