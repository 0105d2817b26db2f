import numpy as np
import pytest

from mathpe_jax.data.tasks import TASKS, make_task
from mathpe_jax.data.tasks.addition import Addition


def task(name, reverse, train_lengths=(1, 3), seed=0):
    return make_task({"name": name, "reverse": reverse, "train_lengths": train_lengths, "test_lengths": (9,)}, seed)


def sample_examples(name, lengths, count, seed, reverse):
    return task(name, reverse).sample(lengths, count, seed)


def test_addition_reversed_and_plain():
    rng = np.random.default_rng(0)
    for reverse in (True, False):
        for _ in range(50):
            e = Addition.generate(rng, 4, reverse)
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
    a = task("addition", True, seed=3).train_examples(8, step=17)
    b = task("addition", True, seed=3).train_examples(8, step=17)
    c = task("addition", True, seed=3).train_examples(8, step=18)
    assert a == b and a != c and {e.length for e in a} <= {1, 2, 3}


def test_eval_sets_have_the_requested_length_and_differ_from_training_draws():
    tests = task("addition", True).test_examples(6, 32)
    assert all(e.length == 6 for e in tests)
    assert tests != task("addition", True, train_lengths=(6, 6)).train_examples(32, step=0)


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="config.task.name='sort': unknown task"):
        make_task({"name": "sort"})


def test_all_tasks_fit_the_char_tokenizer():
    from mathpe_jax.data.tokenizer import CharTokenizer

    tok = CharTokenizer()
    for name in (n for n, cls in TASKS.items() if cls.kind == "synthetic"):
        for e in sample_examples(name, [1, 5, 9], 20, 0, reverse=True):
            assert tok.decode(tok.encode(e.prompt + e.answer)) == e.prompt + e.answer
