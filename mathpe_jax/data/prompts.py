"""Prompt templates, and ``encode_prompt``: the one place a prompt becomes token ids.

``plain`` asks for the final answer alone, ``cot`` for a worked solution ending in the answer in the
dataset's own notation (the task's ``instruction``: GSM8K ``#### n``, MATH ``\\boxed{...}``) so the
graders can find it, ``none`` shows the raw question, for models trained on bare question/solution
pairs, and ``chat`` sends the question and instruction as one user message through the tokenizer's
chat template (instruct models such as Qwen2.5-Math-Instruct expect it).

Every target starts with the separator that joins it to its prompt (a space after ``Answer:``, a
newline after a raw question), so ``prompt + target`` reads as one text and the target is tokenized
the way a pretrained model would continue the prompt (" 72", not "72").
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from mathpe_jax.errors import UserError

if TYPE_CHECKING:
    from mathpe_jax.data.math_datasets import MathProblem
    from mathpe_jax.data.tokenizer import Tokenizer

CHAT = "chat"


class PromptError(UserError, ValueError):
    """A prompt that cannot be built as asked (a chat template the tokenizer lacks)."""


@dataclasses.dataclass(frozen=True)
class Template:
    prompt: str  # formatted with {question} and {instruction}
    separator: str  # starts the target
    final_answer_only: bool  # target is the gold answer, not the worked solution


TEMPLATES = {
    "plain": Template("Question: {question}\nAnswer:", " ", final_answer_only=True),
    "cot": Template("Question: {question}\n{instruction}\nAnswer:", " ", final_answer_only=False),
    "none": Template("{question}", "\n", final_answer_only=False),
    # The chat template itself (the tokenizer's) opens the assistant's turn: no separator.
    CHAT: Template("{question}\n{instruction}", "", final_answer_only=False),
}


def _template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template={name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]


def format_prompt(question: str, template: str, instruction: str) -> str:
    """The text the model is given for ``question``; ``instruction`` says how to write the answer."""
    return _template(template).prompt.format(question=question, instruction=instruction)


def format_target(problem: MathProblem, template: str) -> str:
    """The text the model should produce after ``format_prompt``: the gold answer for ``plain``, the
    full solution (GSM8K with its ``#### n`` line, MATH with its ``\\boxed{...}``) otherwise."""
    spec = _template(template)
    return spec.separator + (problem.answer if spec.final_answer_only else problem.solution)


def encode_prompt(tokenizer: Tokenizer, text: str, *, template: str, bos: bool = True) -> list[int]:
    """The token ids of prompt ``text``, as training, evaluation and ``solve`` all give them.

    A Hugging Face tokenizer (one with an ``hf`` attribute) decides its own special tokens: the ids
    are exactly ``tokenizer(text)["input_ids"]`` (BOS only where its post-processor adds one), or,
    for template ``chat``, ``apply_chat_template`` of one user message with the generation prompt.
    Our own tokenizers (character, SentencePiece) get BOS first when ``bos`` is set.
    """
    hf = getattr(tokenizer, "hf", None)
    if template == CHAT:
        if hf is None or not getattr(hf, "chat_template", None):
            name = getattr(tokenizer, "name", type(tokenizer).__name__)
            raise PromptError(f"template={CHAT!r} needs a Hugging Face tokenizer with a chat template; {name} has none")
        messages = [{"role": "user", "content": text}]
        return list(hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))
    if hf is not None:
        return list(hf(text)["input_ids"])
    head = [tokenizer.bos_id] if bos and tokenizer.bos_id is not None else []
    return head + tokenizer.encode(text)


def starts_with_bos(tokenizer: Tokenizer, *, template: str, bos: bool = True) -> bool:
    """Whether ``encode_prompt`` puts the tokenizer's BOS first (a PE without positions needs one)."""
    ids = encode_prompt(tokenizer, "1", template=template, bos=bos)
    return tokenizer.bos_id is not None and ids[:1] == [tokenizer.bos_id]
