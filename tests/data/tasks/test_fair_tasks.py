"""Fair comparison defaults: shared test sets, stated overlap with training, copy vs reverse,
operands of unequal length."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mathpe_jax.config import validate
from mathpe_jax.data.tasks import make_task, task_class
from mathpe_jax.data.tasks.multiplication import Multiplication
from mathpe_jax.errors import ConfigError
from tests.helpers_run import tiny_config


def _task(name: str = "addition", seed: int = 0, **cfg):
    return make_task({"name": name, "train_lengths": (1, 3), "test_lengths": (5,), **cfg}, seed)


def test_test_sets_depend_on_test_seed_not_on_the_training_seed() -> None:
    one, two = _task(seed=1), _task(seed=2)
    for length in (1, 2, 3, 5):
        assert one.test_examples(length, 16) == two.test_examples(length, 16)
    assert one.train_examples(16, step=0) != two.train_examples(16, step=0)
    assert _task(seed=1, test_seed=7).test_examples(5, 16) != one.test_examples(5, 16)


@pytest.mark.slow
def test_prompt_space_counts_every_prompt_at_small_lengths() -> None:
    """The formula against brute force: every distinct prompt a long stream can draw."""
    for name, length, space in [("addition", 1, 100), ("addition", 2, 8100), ("multiplication", 1, 100),
                                ("multiplication", 2, 90 * 100), ("copy", 2, 100), ("reverse", 3, 1000),
                                ("expression", 2, 300)]:
        task = _task(name)
        assert task.prompt_space(length) == space
        seen = {e.prompt for e in task.sample([length], 20 * space, 0)}
        assert len(seen) == space


def test_overlap_says_which_test_sets_training_can_produce() -> None:
    task = _task("addition", train_lengths=(1, 2), test_lengths=(3,))
    assert task.overlap(1) == {"prompt_space": 100, "possible_in_training": True}
    assert task.overlap(3) == {"prompt_space": 900**2, "possible_in_training": False}
    # Training can produce every in-range test prompt, and no prompt of a longer length.
    training = {e.prompt for step in range(200) for e in task.train_examples(64, step)}
    assert {e.prompt for e in task.test_examples(1, 100)} <= training
    assert not {e.prompt for e in task.test_examples(3, 100)} & training


def test_copy_copies_and_reverse_reverses() -> None:
    for name, flip in (("copy", lambda s: s), ("reverse", lambda s: s[::-1])):
        for e in _task(name).sample([6], 20, 0):
            assert e.prompt == flip(e.answer) + "|" and len(e.answer) == 6
            assert e.prompt[0] != "|"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("task.reverse", True, r"^config\.task\.reverse=True: copy takes no digit order; .*task\.name=reverse"),
    ("task.reverse", False, r"^config\.task\.reverse=False: copy takes no digit order"),
    ("task.test_seed", -1, r"^config\.task\.test_seed=-1: must be an integer >= 0"),
    ("task.unequal_operands", True, r"^config\.task\.unequal_operands=True: copy has no two operands"),
])
def test_bad_task_values_are_refused_in_one_line(key, value, message) -> None:
    config = tiny_config("rope", **{"task.name": "copy", key: value})
    with pytest.raises(ConfigError, match=message) as err:
        validate(config)
    assert "\n" not in str(err.value)


def test_a_test_seed_that_is_not_an_integer_is_refused() -> None:
    """A config file (not the type-checked command line) can hold any value."""
    for value in (True, 1.5, "0"):
        with pytest.raises(ValueError, match=r"^config\.task\.test_seed=.*: must be an integer >= 0"):
            task_class("addition").check_config({"train_lengths": (1, 2), "test_lengths": (3,), "test_seed": value}, 64)


def test_the_base_config_runs_every_synthetic_task() -> None:
    for name in ("addition", "multiplication", "copy", "reverse", "expression"):
        validate(tiny_config("rope", **{"task.name": name}))
    validate(tiny_config("rope", **{"task.name": "multiplication", "task.unequal_operands": True, "task.test_seed": 3}))
    assert task_class("addition")({"train_lengths": (1, 2), "test_lengths": (3,)}).reverse  # unset: reversed
    assert not _task("addition", reverse=False).reverse


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_unequal_operands_draw_lengths_independently_in_training(name) -> None:
    task = _task(name, unequal_operands=True)
    examples = [e for step in range(20) for e in task.train_examples(32, step)]
    pairs = {e.operands for e in examples}
    assert pairs == set(itertools.product((1, 2, 3), repeat=2))
    for e in examples:
        a, b = (s[::-1] for s in e.prompt[:-1].split(task.symbol))
        assert (len(a), len(b)) == e.operands and e.length == max(e.operands)
        assert int(e.answer[::-1]) == task.apply(int(a), int(b))
    # Without the option, addition keeps equal lengths and multiplication a second operand no longer.
    plain = _task(name).train_examples(64, 0)
    assert all(e.operands[1] <= e.operands[0] for e in plain)
    assert name == "multiplication" or all(e.operands[0] == e.operands[1] for e in plain)


def test_the_operand_grid_covers_every_pair_of_evaluated_lengths() -> None:
    task = _task("addition", unequal_operands=True, reverse=False)
    assert task.grid_pairs() == list(itertools.product((1, 2, 3, 5), repeat=2))
    cell = task.grid_examples(2, 5, 8)
    assert all(e.operands == (2, 5) for e in cell)
    assert cell == _task("addition", seed=9, unequal_operands=True, reverse=False).grid_examples(2, 5, 8)
    assert _task("addition").grid_pairs() == []


def test_multiplication_pair_is_the_product() -> None:
    e = Multiplication.pair(np.random.default_rng(0), 3, 1, reverse=False)
    a, b = e.prompt[:-1].split("*")
    assert (len(a), len(b), int(e.answer)) == (3, 1, int(a) * int(b))


def test_operands_longer_than_int64_are_drawn_uniformly():
    """Numbers past 18 digits (NumPy's int64 limit) are drawn in parts: every one has exactly its
    digit count, and its digits are uniform (mean 4.5, leading digit 1-9 with mean 5)."""
    from mathpe_jax.data.tasks.synthetic import number

    rng = np.random.default_rng(0)
    drawn = [str(number(rng, 45)) for _ in range(4000)]
    assert all(len(d) == 45 for d in drawn)
    assert abs(np.mean([int(d[0]) for d in drawn]) - 5.0) < 0.15
    assert abs(np.mean([int(c) for d in drawn for c in d[1:]]) - 4.5) < 0.05
    example = _task("addition", seed=0, test_lengths=(30,)).test_examples(30, 3)[0]
    a, b = example.prompt.rstrip("=").split("+")
    assert int(example.answer[::-1]) == int(a[::-1]) + int(b[::-1])
