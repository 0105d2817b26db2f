"""solve_math_problem and tools/solve.py on every kind of checkpoint, their error messages, and
parity with transformers (prompt ids, chat template, greedy tokens) on tiny llama, qwen2 and mistral
models that each carry their own BPE tokenizer."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from mathpe_jax.inference import load_checkpoint
from mathpe_jax.solve import build_prompt, solve_math_problem
from tests.helpers_hf import FAMILIES, family_checkpoint
from tools import convert_hf, solve

PROBLEM = "A train travels 120 miles in 2 hours. What is its speed?"


@pytest.fixture(scope="module")
def hf_dir(tiny_hf_checkpoint):
    """The session's tiny Llama with its tokenizer (read-only)."""
    return tiny_hf_checkpoint


@pytest.fixture(scope="module")
def loaded(hf_dir):
    return load_checkpoint(str(hf_dir))


def test_solves_with_a_hugging_face_directory(loaded):
    out = solve_math_problem(PROBLEM, loaded, max_new_tokens=8)
    assert out["prompt_token_ids"] == loaded.tokenizer.hf(loaded.task.prompt(PROBLEM))["input_ids"]
    assert loaded.tokenizer.decode(out["prompt_token_ids"]).startswith("Question: " + PROBLEM)
    assert 1 <= len(out["completion_token_ids"]) <= 8
    assert out["completion"] == loaded.tokenizer.decode(out["completion_token_ids"])


def test_templates_change_the_prompt(loaded):
    plain = solve_math_problem(PROBLEM, loaded, template="none", max_new_tokens=1)
    assert loaded.tokenizer.decode(plain["prompt_token_ids"]) == PROBLEM


def test_converted_checkpoint_gives_the_same_solution(tmp_path, hf_dir, loaded):
    convert_hf.convert(tmp_path / "ours", hf_dir=str(hf_dir))
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


@pytest.fixture
def run_tool(capsys):
    """``run_tool(*flags)``: ``tools/solve.py FLAGS`` in this process; (exit status, stdout, stderr)."""

    def run(*flags: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            status = solve.main(list(flags))
        except SystemExit as stop:
            status = stop.code
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def test_tool_prints_json(hf_dir, run_tool):
    status, stdout, stderr = run_tool(f"--checkpoint={hf_dir}", f"--problem={PROBLEM}", "--max_new_tokens=4", "--json")
    assert status == 0, stderr[-2000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert {"completion", "answer", "prompt_token_ids", "completion_token_ids"} <= set(out)


def test_tool_reports_a_missing_checkpoint_in_one_line(tmp_path, run_tool):
    status, _, stderr = run_tool(f"--checkpoint={tmp_path / 'nothing'}", f"--problem={PROBLEM}")
    assert status == 2
    assert stderr.strip().splitlines() == [f"error: checkpoint not found: {tmp_path / 'nothing'}"]


def test_a_config_json_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config\.json holds a JSON list, not a config"):
        load_checkpoint(str(tmp_path))


def test_tool_reports_an_empty_problem_in_one_line(hf_dir, run_tool):
    status, _, stderr = run_tool(f"--checkpoint={hf_dir}", "--problem=")
    assert status == 2 and stderr.strip().splitlines() == ["error: the problem is empty"]


# -- parity with transformers: tiny models of three families, each with its own BPE tokenizer ------

GREEDY_TOKENS = 24


@pytest.fixture(scope="module")
def gsm8k_texts(data_dir):
    with (data_dir / "gsm8k" / "train.jsonl").open() as lines:
        rows = [json.loads(line) for line in itertools.islice(lines, 300)]
    return [f"{r['question']}\n{r['answer']}" for r in rows]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory, gsm8k_texts):
    """(family, checkpoint directory, transformers' tokenizer and model read back from it)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = request.param
    directory = family_checkpoint(tmp_path_factory.mktemp(name), name, gsm8k_texts)
    return name, directory, AutoTokenizer.from_pretrained(directory), AutoModelForCausalLM.from_pretrained(directory)


@pytest.fixture(scope="module")
def long_problem(data_dir):
    """GSM8K test questions joined until the prompt passes 400 tokens under every tokenizer here."""
    with (data_dir / "gsm8k" / "test.jsonl").open() as lines:
        questions = [json.loads(line)["question"] for line in itertools.islice(lines, 30)]
    text = ""
    for question in questions:
        text = f"{text} {question}".strip()
        if len(text) > 950:
            return text
    raise AssertionError("not enough text for a long prompt")


def test_prompt_ids_and_greedy_tokens_match_transformers(family, long_problem):
    name, directory, hf_tokenizer, hf_model = family
    expected_prompt = hf_tokenizer(long_problem)["input_ids"]
    assert len(expected_prompt) >= 400
    assert (expected_prompt[0] == hf_tokenizer.bos_token_id) == FAMILIES[name]["post_bos"]
    out = solve_math_problem(long_problem, str(directory), template="none", max_new_tokens=GREEDY_TOKENS)
    assert out["prompt_token_ids"] == expected_prompt
    with torch.no_grad():
        reference = hf_model.generate(
            torch.tensor([expected_prompt]), attention_mask=torch.ones(1, len(expected_prompt), dtype=torch.long),
            do_sample=False, max_new_tokens=GREEDY_TOKENS, pad_token_id=hf_tokenizer.pad_token_id,
        )[0, len(expected_prompt):].tolist()
    assert out["completion_token_ids"] == reference
    assert len(reference) >= 1


def test_chat_template_ids_match_apply_chat_template(family):
    name, directory, hf_tokenizer, _ = family
    loaded = load_checkpoint(str(directory))
    if FAMILIES[name]["chat"] is None:
        with pytest.raises(ValueError, match="template='chat' needs a Hugging Face tokenizer with a chat template"):
            build_prompt(PROBLEM, loaded, "chat")
        return
    message = loaded.task.prompt(PROBLEM, "chat")
    expected = hf_tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert build_prompt(PROBLEM, loaded, "chat") == expected
    assert hf_tokenizer.decode(expected).endswith("<|im_start|>assistant\n")


def test_tool_prints_the_tokenizers_own_prompt_ids(tmp_path, gsm8k_texts, run_tool):
    """One family is enough for the command line (all go through solve above): mistral, whose
    tokenizer defines a BOS but adds none, the case a BOS-always prompt got wrong."""
    from transformers import AutoTokenizer

    directory = family_checkpoint(tmp_path, "mistral", gsm8k_texts)
    hf_tokenizer = AutoTokenizer.from_pretrained(directory)
    status, stdout, stderr = run_tool(
        f"--checkpoint={directory}", f"--problem={PROBLEM}", "--template=none", "--max_new_tokens=2", "--json"
    )
    assert status == 0, stderr[-2000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["prompt_token_ids"] == hf_tokenizer(PROBLEM)["input_ids"]
