"""Solve one math problem with any checkpoint: greedy decoding, then answer extraction."""

from __future__ import annotations

from typing import Any

from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.decode import greedy_generate
from mathpe_jax.grading.extraction import extract_answer
from mathpe_jax.inference import Loaded, load_checkpoint

MAX_PROBLEM_CHARS = 20_000


def build_prompt(problem: str, loaded: Loaded, template: str | None) -> list[int]:
    """Token ids of the prompt: the problem in the chosen template (default: the model's own), as
    ``encode_prompt`` gives them to training and evaluation."""
    task = loaded.task
    template = template or task.template
    return encode_prompt(loaded.tokenizer, task.prompt(problem, template), template=template, bos=task.bos)


def check_problem(problem: str) -> str:
    """``problem`` without surrounding whitespace; ValueError when it is empty or too long."""
    problem = problem.strip()
    if not problem:
        raise ValueError("the problem is empty")
    if len(problem) > MAX_PROBLEM_CHARS:
        raise ValueError(f"the problem has {len(problem)} characters; at most {MAX_PROBLEM_CHARS} are accepted")
    return problem


def check_budget(prompt_tokens: int, max_new_tokens: int, limit: int) -> None:
    """ValueError when ``max_new_tokens`` is not positive or the prompt and the budget together
    exceed the model's ``limit`` positions."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if prompt_tokens + max_new_tokens > limit:
        raise ValueError(
            f"the prompt has {prompt_tokens} tokens; with max_new_tokens={max_new_tokens} that exceeds the "
            f"model's {limit} positions"
        )


def read_completion(loaded: Loaded, completion_ids: list[int]) -> dict[str, Any]:
    """The text of generated ids (cut after EOS), its extracted answer and whether it ended."""
    tokenizer = loaded.tokenizer
    completion = tokenizer.decode(completion_ids)
    return {
        "completion": completion,
        "answer": extract_answer(completion, loaded.task.answer_style),
        "completion_token_ids": completion_ids,
        "finished": bool(completion_ids) and completion_ids[-1] == tokenizer.eos_id,
    }


def solve_math_problem(
    problem: str,
    checkpoint: str | Loaded,
    *,
    template: str | None = None,
    max_new_tokens: int = 256,
    base: str | None = None,
) -> dict[str, Any]:
    """Greedy solution of ``problem``: completion text, extracted answer and the token ids.

    ``checkpoint`` is a path or hub id (see ``mathpe_jax.inference``) or an already loaded model,
    so many problems can reuse one load. ``template`` overrides the one the model was trained with.
    """
    problem = check_problem(problem)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    loaded = checkpoint if isinstance(checkpoint, Loaded) else load_checkpoint(checkpoint, base)
    prompt = build_prompt(problem, loaded, template)
    check_budget(len(prompt), max_new_tokens, loaded.model.config.max_len)
    tokenizer = loaded.tokenizer
    (completion_ids,) = greedy_generate(
        loaded.model, [prompt], max_new_tokens=max_new_tokens, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, batch_size=1
    )
    return {"problem": problem, **read_completion(loaded, completion_ids), "prompt_token_ids": prompt}
