"""Prompt templates: how a question is shown to the model, and what it should write back.

``plain`` asks for the final answer alone, ``cot`` for a worked solution ending in the answer in the
dataset's own notation (GSM8K ``#### n``, MATH ``\\boxed{...}``) so the existing graders can find it,
and ``none`` shows the raw question, for models trained on bare question/solution pairs.

Every target starts with the separator that joins it to its prompt (a space after ``Answer:``, a
newline after a raw question), so ``prompt + target`` reads as one text and the target is tokenized
the way a pretrained model would continue the prompt (" 72", not "72").
"""

from __future__ import annotations

import dataclasses

from mathpe_jax.data.math_datasets import MathProblem

# What the cot template asks for, per dataset: the notation its answer extractor reads.
COT_INSTRUCTIONS = {
    "gsm8k": "Solve the problem step by step. Write the final answer on its own last line as '#### <number>'.",
    "math": "Solve the problem step by step. Put the final answer in \\boxed{}.",
}


@dataclasses.dataclass(frozen=True)
class Template:
    prompt: str  # formatted with {question} and {instruction}
    separator: str  # starts the target
    final_answer_only: bool  # target is the gold answer, not the worked solution


TEMPLATES = {
    "plain": Template("Question: {question}\nAnswer:", " ", final_answer_only=True),
    "cot": Template("Question: {question}\n{instruction}\nAnswer:", " ", final_answer_only=False),
    "none": Template("{question}", "\n", final_answer_only=False),
}


def _template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template={name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]


def format_prompt(question: str, template: str, dataset: str) -> str:
    """The text the model is given for ``question`` of ``dataset`` ("gsm8k" or "math")."""
    if dataset not in COT_INSTRUCTIONS:
        raise ValueError(f"unknown dataset={dataset!r} for prompts; known: {sorted(COT_INSTRUCTIONS)}")
    return _template(template).prompt.format(question=question, instruction=COT_INSTRUCTIONS[dataset])


def format_target(problem: MathProblem, template: str) -> str:
    """The text the model should produce after ``format_prompt``: the gold answer for ``plain``, the
    full solution (GSM8K with its ``#### n`` line, MATH with its ``\\boxed{...}``) otherwise."""
    spec = _template(template)
    return spec.separator + (problem.answer if spec.final_answer_only else problem.solution)
