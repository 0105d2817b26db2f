import numpy as np
import pytest

from mathpe_jax.data.synthetic import TASKS, sample_examples, eval_examples, train_examples


def test_addition_reversed_and_plain():
    rng = np.random.default_rng(0)
    from mathpe_jax.data.synthetic import addition

    for reverse in (True, False):
        for _ in range(50):
            e = addition(rng, 4, reverse=reverse)
            a, b = e.prompt[:-1].split("+")
            read = (lambda s: int(s[::-1])) if reverse else int
            assert read(e.answer) == read(a) + read(b)
            assert len(a) == len(b) == 4


def test_multiplication_is_correct():
    for e in sample_examples("multiplication", [3], 50, 0, reverse=False):
        a, b = e.prompt[:-1].split("*")
        assert int(e.answer) == int(a) * int(b)


def test_copy_repeats_the_string():
    for e in sample_examples("copy", [7], 20, 0, reverse=False):
        assert e.prompt == e.answer + "|" and len(e.answer) == 7


def test_expression_steps_follow_precedence_and_end_in_the_value():
    examples = sample_examples("expression", [4], 200, 0, reverse=False)
    for e in examples:
        steps = e.answer.split("=")
        assert len(steps) == 3  # one operation per step
        final = int(steps[-1])
        # Recompute with a tiny precedence evaluator (no eval of generated text).
        tokens = []
        num = ""
        for ch in e.prompt[:-1]:
            if ch.isdigit():
                num += ch
            else:
                tokens += [int(num), ch]
                num = ""
        tokens.append(int(num))
        i = 1
        while i < len(tokens):
            if tokens[i] == "*":
                tokens[i - 1 : i + 2] = [tokens[i - 1] * tokens[i + 1]]
            else:
                i += 2
        value = tokens[0]
        for op, n in zip(tokens[1::2], tokens[2::2]):
            value = value + n if op == "+" else value - n
        assert final == value
    assert {"example": examples[0]} == {"example": sample_examples("expression", [4], 200, 0, reverse=False)[0]}


def test_training_batches_depend_only_on_seed_and_step():
    a = train_examples("addition", [1, 2, 3], 8, seed=3, step=17, reverse=True)
    b = train_examples("addition", [1, 2, 3], 8, seed=3, step=17, reverse=True)
    c = train_examples("addition", [1, 2, 3], 8, seed=3, step=18, reverse=True)
    assert a == b and a != c


def test_eval_sets_have_the_requested_length_and_differ_from_training_draws():
    tests = eval_examples("addition", 6, 32, seed=0, reverse=True)
    assert all(e.length == 6 for e in tests)
    assert tests != train_examples("addition", [6], 32, seed=0, step=0, reverse=True)


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="task.name='sort'"):
        sample_examples("sort", [1], 1, 0, reverse=False)


def test_all_tasks_fit_the_char_tokenizer():
    from mathpe_jax.data.tokenizer import CharTokenizer

    tok = CharTokenizer()
    for name in TASKS:
        for e in sample_examples(name, [1, 5, 9], 20, 0, reverse=True):
            assert tok.decode(tok.encode(e.prompt + e.answer)) == e.prompt + e.answer
