"""Templates, and ``encode_prompt`` on our own tokenizers (Hugging Face parity: test_prompts_hf.py)."""

import pytest

from mathpe_jax.data.math_datasets import MathProblem
from mathpe_jax.data.prompts import TEMPLATES, encode_prompt, format_prompt, format_target
from mathpe_jax.data.tasks.gsm8k import GSM8K
from mathpe_jax.data.tasks.math import MATH
from mathpe_jax.data.tokenizer import CharTokenizer

GSM8K_PROBLEM = MathProblem("gsm8k/test/0", "How many clips?", "48+24=<<48+24=72>>72\n#### 72", "72")
MATH_PROBLEM = MathProblem("test/algebra/1.json", "Find $x$ if $\\{x\\}=2$.", "So $x=\\boxed{2}$.", "2", {"level": 1})


def test_plain_asks_for_the_answer_alone():
    assert format_prompt("How many clips?", "plain", GSM8K.instruction) == "Question: How many clips?\nAnswer:"
    assert format_target(GSM8K_PROBLEM, "plain") == " 72"
    assert format_target(MATH_PROBLEM, "plain") == " 2"


def test_cot_asks_for_each_datasets_answer_notation():
    gsm8k_prompt = GSM8K({"template": "cot"}).prompt(GSM8K_PROBLEM.question)
    math_prompt = MATH({"template": "cot"}).prompt(MATH_PROBLEM.question)
    assert gsm8k_prompt.startswith("Question: How many clips?\n") and "'#### <number>'" in gsm8k_prompt
    assert "\\boxed{}" in math_prompt and MATH_PROBLEM.question in math_prompt  # braces kept as they are
    assert gsm8k_prompt.endswith("\nAnswer:") and math_prompt.endswith("\nAnswer:")
    assert format_target(GSM8K_PROBLEM, "cot") == " 48+24=<<48+24=72>>72\n#### 72"
    assert format_target(MATH_PROBLEM, "cot") == " So $x=\\boxed{2}$."


def test_none_is_the_raw_question_then_the_solution():
    assert MATH({"template": "none"}).prompt(MATH_PROBLEM.question) == MATH_PROBLEM.question
    assert format_target(MATH_PROBLEM, "none") == "\nSo $x=\\boxed{2}$."


def test_chat_sends_question_and_instruction_as_the_message():
    assert GSM8K({"template": "chat"}).prompt("How many?") == "How many?\n" + GSM8K.instruction
    assert format_target(GSM8K_PROBLEM, "chat") == GSM8K_PROBLEM.solution


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_prompt_and_target_read_as_one_text(template):
    text = GSM8K({"template": template}).prompt(GSM8K_PROBLEM.question) + format_target(GSM8K_PROBLEM, template)
    assert text.endswith("72") and GSM8K_PROBLEM.question in text


def test_unknown_template_is_reported_in_one_line():
    for call in (lambda: format_prompt("q", "fewshot", ""), lambda: format_target(GSM8K_PROBLEM, "fewshot")):
        with pytest.raises(ValueError, match="unknown prompt template='fewshot'") as info:
            call()
        assert "\n" not in str(info.value)


def test_own_tokenizers_get_bos_when_the_task_asks():
    tok = CharTokenizer()
    assert encode_prompt(tok, "12+3=", template="none") == [tok.bos_id] + tok.encode("12+3=")
    assert encode_prompt(tok, "12+3=", template="none", bos=False) == tok.encode("12+3=")


def test_chat_needs_a_tokenizer_with_a_chat_template():
    with pytest.raises(ValueError, match="template='chat' needs a Hugging Face tokenizer with a chat template"):
        encode_prompt(CharTokenizer(), "1+1=", template="chat")
