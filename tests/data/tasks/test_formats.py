"""How the two-operand tasks write numbers: index hints, zero padding, random spaces and spaces
around numbers in training, their grading, their tokenizer, their config checks."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from mathpe_jax import build
from mathpe_jax.config import validate
from mathpe_jax.data.tasks import TASKS, make_task, task_class
from mathpe_jax.data.tasks.addition import Addition
from mathpe_jax.data.tasks.formats import HINTS, NumberFormat
from mathpe_jax.data.tasks.multiplication import Multiplication
from mathpe_jax.data.tokenizer import SYNTHETIC_ALPHABET, CharTokenizer
from mathpe_jax.errors import ConfigError
from mathpe_jax.grading.prediction import Completion
from mathpe_jax.grading.steps import evaluate_arithmetic
from tests.helpers_run import tiny_config

HINTED = NumberFormat(index_hints=True)
PADDED = NumberFormat(zero_pad=True)
BOTH = NumberFormat(index_hints=True, zero_pad=True)
_HINTED_DIGIT = re.compile(r"([a-zA-Z])(\d)")


def _task(name: str = "addition", seed: int = 0, **cfg):
    return make_task({"name": name, "train_lengths": (1, 3), "test_lengths": (5,), **cfg}, seed)


def _written(form: NumberFormat, a: int, b: int, width: int, answer_width: int,
             reverse: bool = True) -> tuple[str, str]:
    return (f"{form.write(a, width, reverse)}+{form.write(b, width, reverse)}=",
            form.write(a + b, answer_width, reverse))


def test_the_papers_example_12_plus_345() -> None:
    assert _written(HINTED, 12, 345, 3, 4) == ("a2b1+a5b4c3=", "a7b5c3")
    assert _written(HINTED, 12, 345, 3, 4, reverse=False) == ("b1a2+c3b4a5=", "c3b5a7")
    assert _written(PADDED, 12, 345, 3, 4) == ("210+543=", "7530")
    assert _written(PADDED, 12, 345, 3, 4, reverse=False) == ("012+345=", "0357")
    assert _written(BOTH, 12, 345, 3, 4) == ("a2b1c0+a5b4c3=", "a7b5c3d0")
    assert _written(NumberFormat(), 12, 345, 3, 4) == ("21+543=", "753")


# One draw (a 2-digit and a 3-digit operand from seed 0) in several formats: 86 + 673 = 759 and
# 86 * 673 = 57878.
PINNED = [
    (Addition, NumberFormat(), True, "68+376=", "957"),
    (Addition, HINTED, True, "a6b8+a3b7c6=", "a9b5c7"),
    (Addition, HINTED, False, "b8a6+c6b7a3=", "c7b5a9"),
    (Addition, PADDED, True, "680+376=", "9570"),
    (Addition, BOTH, False, "c0b8a6+c6b7a3=", "d0c7b5a9"),
    (Multiplication, BOTH, True, "a6b8c0*a3b7c6=", "a8b7c8d7e5f0"),
    (Multiplication, PADDED, False, "086*673=", "057878"),
]


@pytest.mark.parametrize(("cls", "form", "reverse", "prompt", "answer"), PINNED)
def test_one_draw_in_every_format(cls, form, reverse, prompt, answer) -> None:
    e = cls.pair(np.random.default_rng(0), 2, 3, reverse, form)
    assert (e.prompt, e.answer, e.length, e.operands) == (prompt, answer, 3, (2, 3))


def test_formats_change_the_text_never_the_problem() -> None:
    """With every option off the data are today's; with options on, the same problems."""
    plain = _task().test_examples(5, 16)
    assert _task(index_hints=False, zero_pad=False, random_spaces=0.0).test_examples(5, 16) == plain
    hinted = _task(index_hints=True, zero_pad=True).test_examples(5, 16)
    for p, h in zip(plain, hinted, strict=True):
        assert int(p.answer[::-1]) == int(NumberFormat(True).plain(h.answer)[::-1])


@pytest.mark.parametrize(("name", "reverse", "unequal"), itertools.product(("addition", "multiplication"),
                                                                           (True, False), (True, False)))
def test_hints_name_each_digits_place_in_operands_and_answer(name, reverse, unequal) -> None:
    task = _task(name, index_hints=True, reverse=reverse, unequal_operands=unequal)
    for e in task.train_examples(64, 0) + task.test_examples(5, 16):
        numbers = [*e.prompt.rstrip("=").split(task.symbol), e.answer]
        values = []
        for text in numbers:
            pairs = _HINTED_DIGIT.findall(text)
            assert "".join(h + d for h, d in pairs) == text  # every digit has a hint, nothing else
            in_order = pairs if reverse else pairs[::-1]  # least significant first
            assert [h for h, _ in in_order] == list(HINTS[: len(pairs)])
            values.append(sum(int(d) * 10**k for k, (_, d) in enumerate(in_order)))
        assert values[2] == task.apply(values[0], values[1])


@pytest.mark.parametrize(("name", "reverse", "unequal"), itertools.product(("addition", "multiplication"),
                                                                           (True, False), (True, False)))
def test_zero_padding_widths(name, reverse, unequal) -> None:
    task = _task(name, zero_pad=True, reverse=reverse, unequal_operands=unequal)
    read = (lambda s: int(s[::-1])) if reverse else int
    for e in task.train_examples(64, 0) + task.test_examples(5, 16) + task.grid_examples(1, 3, 4):
        a, b = e.prompt.rstrip("=").split(task.symbol)
        assert len(a) == len(b) == e.length == max(e.operands)
        assert len(e.answer) == task.answer_digits(e.length)
        assert read(e.answer) == task.apply(read(a), read(b))


@pytest.mark.parametrize("spaces", [{"random_spaces": 0.3}, {"spaces_around_numbers": 3},
                                    {"random_spaces": 0.3, "spaces_around_numbers": 3}])
def test_spaces_only_in_training_prompts(spaces) -> None:
    task = _task(unequal_operands=True, **spaces)
    batch = task.train_examples(256, 7)
    assert batch == _task(unequal_operands=True, **spaces).train_examples(256, 7)  # (seed, step)
    assert batch != task.train_examples(256, 8)
    assert any(" " in e.prompt for e in batch)
    assert not any(" " in e.answer for e in batch)
    # Spaces are drawn after the problems: removing them gives the batch without spaces.
    unspaced = _task(unequal_operands=True).train_examples(256, 7)
    assert [(e.prompt.replace(" ", ""), e.answer) for e in batch] == [(e.prompt, e.answer) for e in unspaced]
    tests = task.test_examples(5, 64) + task.test_examples(2, 64) + task.grid_examples(2, 5, 16)
    assert not any(" " in e.prompt + e.answer for e in tests)
    assert task.test_examples(5, 64) == _task(unequal_operands=True).test_examples(5, 64)


def test_spaces_around_numbers_keep_each_number_whole_and_fill_every_gap() -> None:
    task = _task(spaces_around_numbers=3, unequal_operands=True, index_hints=True)
    plain = _task(unequal_operands=True, index_hints=True).train_examples(512, 3)
    counts = []
    for e, p in zip(task.train_examples(512, 3), plain, strict=True):
        gaps = re.fullmatch(r"( *)([a-zA-Z0-9]+)( *)\+( *)([a-zA-Z0-9]+)( *)=( *)", e.prompt)
        assert gaps, e.prompt  # spaces only before, between and after the numbers and signs
        a, b = p.prompt[:-1].split("+")
        assert (gaps[2], gaps[5]) == (a, b)  # each number whole, hints and digits together
        counts += [len(gaps[k]) for k in (1, 3, 4, 6, 7)]
    frequencies = np.bincount(counts, minlength=4) / len(counts)
    np.testing.assert_allclose(frequencies, 0.25, atol=0.03)  # 0..3 spaces per gap, uniform


def test_random_spaces_rate() -> None:
    task = _task(random_spaces=0.2, index_hints=True)
    gaps = spaces = 0
    for step in range(40):
        for e in task.train_examples(64, step):
            assert not e.prompt.startswith(" ") and e.prompt.endswith("=")
            spaces += e.prompt.count(" ")
            gaps += len(e.prompt.replace(" ", "")) - 1
    assert not re.search("  ", "".join(e.prompt for e in task.train_examples(64, 0)))
    assert spaces / gaps == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_longest_bounds_every_format_and_is_reached(name) -> None:
    cls = task_class(name)
    options = [{"index_hints": h, "zero_pad": z, "random_spaces": s, "spaces_around_numbers": n}
               for h, z, s, n in itertools.product((False, True), (False, True), (0.0, 0.999), (0, 2))]
    for cfg in options:
        task = _task(name, unequal_operands=True, **cfg)
        bound = cls.longest_as_configured(cfg, 3, training=True)
        seen = max(len(e.prompt + e.answer) for step in range(4) for e in task.train_examples(64, step))
        assert seen <= bound
        if cfg["zero_pad"] and cfg["random_spaces"] and not cfg["spaces_around_numbers"]:
            assert seen == bound  # every width is the widest, nearly every gap spaced
        unspaced = {**cfg, "random_spaces": 0.0, "spaces_around_numbers": 0}
        assert cls.longest_as_configured(cfg, 3) == cls.longest_as_configured(unspaced, 3, training=True)
    assert cls.longest(3) == cls.longest_as_configured({}, 3)
    assert Addition.longest(3) == 12 and Multiplication.longest(3) == 14  # as before the options


# -- grading --------------------------------------------------------------------------------------

def _grade(task, prompt: str, gold: str, completion: str):
    (p,) = task.grade([Completion(problem_id="t/1/0", prompt=prompt, gold=gold, completion=completion,
                                  completion_tokens=len(completion) + 1, ended=True, length=3,
                                  length_bucket="in_distribution")])
    return p.correct, p.symbolic_correct, p.n_equations, p.first_wrong_step, p.error_class


def test_hinted_completions_are_read_without_their_hints() -> None:
    """Exact compares the text with hints; symbolic and steps read the digits alone, so misplaced
    or missing hints are symbolic-correct but not exact."""
    task = _task(index_hints=True)
    prompt, gold = "a2b1+a5b4c3=", "a7b5c3"
    assert task.answer_value(gold) == 357
    assert task.step_chain(prompt, gold) == ["12+345", "357"]
    assert _grade(task, prompt, gold, gold) == (True, True, 1, None, "correct")
    assert _grade(task, prompt, gold, "b7a5c3")[:2] == (False, True)  # hints swapped
    assert _grade(task, prompt, gold, "753")[:2] == (False, True)  # hints left out
    assert _grade(task, prompt, gold, "a7b6c3") == (False, False, 1, 0, "calculation_error")
    assert _task().answer_value("a7b5c3") is None  # without hints, letters are no number


def test_padded_completions_are_read_by_value() -> None:
    task = _task(zero_pad=True)
    prompt, gold = "210+543=", "7530"
    assert task.answer_value(gold) == 357 and task.step_chain(prompt, gold) == ["012+345", "0357"]
    assert _grade(task, prompt, gold, gold) == (True, True, 1, None, "correct")
    assert _grade(task, prompt, gold, "753")[:3] == (False, True, 1)  # unpadded: right value, not exact
    assert _grade(task, prompt, gold, "7531")[:2] == (False, False)
    both = _task(index_hints=True, zero_pad=True, reverse=False)
    assert _grade(both, "c0b1a2+c3b4a5=", "d0c3b5a7", "d0c3b5a7") == (True, True, 1, None, "correct")


def test_step_audit_parses_leading_zeros() -> None:
    assert evaluate_arithmetic("007") == 7
    assert evaluate_arithmetic("012+0345") == evaluate_arithmetic("0357") == 357
    assert evaluate_arithmetic("0068*0376") == 68 * 376


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_generated_answers_pass_their_own_checks_in_every_format(name) -> None:
    for hints, pad, reverse in itertools.product((False, True), repeat=3):
        task = _task(name, index_hints=hints, zero_pad=pad, reverse=reverse, unequal_operands=True)
        examples = task.test_examples(5, 8) + task.grid_examples(2, 4, 8)
        for e in examples:
            assert _grade(task, e.prompt, e.answer, e.answer) == (True, True, 1, None, "correct"), e


# -- tokenizer ------------------------------------------------------------------------------------

def test_runs_without_hints_keep_their_tokenizer() -> None:
    plain = CharTokenizer()
    for name, cls in TASKS.items():
        if cls.kind == "synthetic":
            task = make_task({"name": name, "train_lengths": (1, 2), "test_lengths": (3,)})
            assert task.alphabet == SYNTHETIC_ALPHABET
    hinted = CharTokenizer(_task(index_hints=True).alphabet)
    assert hinted.encode(SYNTHETIC_ALPHABET) == plain.encode(SYNTHETIC_ALPHABET)
    assert hinted.vocab_size == plain.vocab_size + len(HINTS) and len(HINTS) == 52
    for e in _task(index_hints=True, zero_pad=True, random_spaces=0.5).train_examples(64, 0):
        assert hinted.decode(hinted.encode(e.prompt + e.answer)) == e.prompt + e.answer


def test_a_saved_hinted_run_rebuilds_its_tokenizer(tmp_path) -> None:
    """Evaluation and ``solve`` rebuild the tokenizer from the run's config.json."""
    from mathpe_jax.run.directory import RunDir, saved_config

    config = tiny_config("rope", **{"task.index_hints": True, "task.random_spaces": 0.1})
    validate(config)
    run = RunDir(tmp_path)
    run.create(config)
    run.release()
    rebuilt = build.build_tokenizer(saved_config(tmp_path), tmp_path)
    assert rebuilt.alphabet == build.build_tokenizer(config, tmp_path).alphabet == SYNTHETIC_ALPHABET + HINTS
    assert build.build_tokenizer(tiny_config("rope"), tmp_path).vocab_size == CharTokenizer().vocab_size


# -- config checks --------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    ({"task.random_spaces": 1.5}, r"config\.task\.random_spaces=1\.5: must be a probability in \[0, 1\)"),
    ({"task.random_spaces": 1.0}, r"config\.task\.random_spaces=1\.0: must be a probability"),
    ({"task.random_spaces": -0.1}, r"config\.task\.random_spaces=-0\.1: must be a probability"),
    ({"task.name": "copy", "task.index_hints": True}, r"config\.task\.index_hints=True: copy has no two operands"),
    ({"task.name": "reverse", "task.zero_pad": True}, r"config\.task\.zero_pad=True: reverse has no two operands"),
    ({"task.name": "copy", "task.random_spaces": 0.1}, r"config\.task\.random_spaces=0\.1: copy has no two operands"),
    ({"task.spaces_around_numbers": -1}, r"config\.task\.spaces_around_numbers=-1: must be a whole number of spaces >= 0"),
    ({"task.name": "reverse", "task.spaces_around_numbers": 2},
     r"config\.task\.spaces_around_numbers=2: reverse has no two operands"),
    ({"task.spaces_around_numbers": 11},  # training prompts of 2 digits: 6 + 5 x 11 spaces, answer 3, BOS, EOS
     r"config\.task\.train_lengths=\(1, 2\): addition at length 2 takes up to 66 tokens \(BOS, prompt with training spaces"),
    ({"task.index_hints": True, "task.test_lengths": (52,), "model.max_len": 512},
     r"config\.task\.index_hints=True: addition at length 52 writes answers of up to 53 digits, more than the 52"),
    ({"task.name": "multiplication", "task.index_hints": True, "task.test_lengths": (27,), "model.max_len": 512},
     r"config\.task\.index_hints=True: multiplication at length 27 .* 54 digits"),
    ({"task.index_hints": True, "task.test_lengths": (60,)}, r"config\.task\.index_hints=True: addition at length 60"),
    ({"task.index_hints": True, "task.test_lengths": (10,)},  # max_len 64 fits 10 digits unhinted (35 tokens)
     r"config\.task\.test_lengths=\(10,\): addition at length 10 takes up to 66 tokens"),
])
def test_bad_format_options_are_refused_in_one_line(overrides, message) -> None:
    with pytest.raises(ConfigError, match=f"^{message}") as err:
        validate(tiny_config("rope", **overrides))
    assert "\n" not in str(err.value)


def test_format_options_of_the_wrong_type_are_refused() -> None:
    """A config file (not the type-checked command line) can hold any value."""
    cfg = {"train_lengths": (1, 2), "test_lengths": (3,)}
    for key, value in (("index_hints", "yes"), ("zero_pad", 1), ("random_spaces", True), ("random_spaces", "0.1"),
                       ("spaces_around_numbers", True), ("spaces_around_numbers", 2.0)):
        with pytest.raises(ValueError, match=rf"^config\.task\.{key}={value!r}: must be"):
            task_class("addition").check_config({**cfg, key: value}, 64)


def test_every_format_validates_on_both_tasks() -> None:
    for name in ("addition", "multiplication"):
        validate(tiny_config("rope", **{"task.name": name, "task.index_hints": True, "task.zero_pad": True,
                                        "task.random_spaces": 0.25, "task.unequal_operands": True,
                                        "task.spaces_around_numbers": 1}))
        validate(tiny_config("rope", **{"task.name": name, "task.index_hints": True, "task.test_lengths": (26,),
                                        "model.max_len": 512}))
