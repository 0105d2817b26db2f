import pytest

from mathpe_jax.data.math_datasets import MathProblem
from mathpe_jax.data.prompts import TEMPLATES, format_prompt, format_target

GSM8K = MathProblem("gsm8k/test/0", "How many clips?", "48+24=<<48+24=72>>72\n#### 72", "72")
MATH = MathProblem("test/algebra/1.json", "Find $x$ if $\\{x\\}=2$.", "So $x=\\boxed{2}$.", "2", {"level": 1})


def test_plain_asks_for_the_answer_alone():
    assert format_prompt("How many clips?", "plain", "gsm8k") == "Question: How many clips?\nAnswer:"
    assert format_target(GSM8K, "plain") == " 72"
    assert format_target(MATH, "plain") == " 2"


def test_cot_asks_for_each_datasets_answer_notation():
    gsm8k_prompt = format_prompt(GSM8K.question, "cot", "gsm8k")
    math_prompt = format_prompt(MATH.question, "cot", "math")
    assert gsm8k_prompt.startswith("Question: How many clips?\n") and "'#### <number>'" in gsm8k_prompt
    assert "\\boxed{}" in math_prompt and MATH.question in math_prompt  # braces in questions kept as they are
    assert gsm8k_prompt.endswith("\nAnswer:") and math_prompt.endswith("\nAnswer:")
    assert format_target(GSM8K, "cot") == " 48+24=<<48+24=72>>72\n#### 72"
    assert format_target(MATH, "cot") == " So $x=\\boxed{2}$."


def test_none_is_the_raw_question_then_the_solution():
    assert format_prompt(MATH.question, "none", "math") == MATH.question
    assert format_target(MATH, "none") == "\nSo $x=\\boxed{2}$."


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_prompt_and_target_read_as_one_text(template):
    text = format_prompt(GSM8K.question, template, "gsm8k") + format_target(GSM8K, template)
    assert text.endswith("72") and GSM8K.question in text


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: format_prompt("q", "fewshot", "gsm8k"), "unknown prompt template='fewshot'"),
        (lambda: format_target(GSM8K, "fewshot"), "unknown prompt template='fewshot'"),
        (lambda: format_prompt("q", "plain", "aime"), "unknown dataset='aime'"),
    ],
)
def test_unknown_names_are_reported_in_one_line(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
