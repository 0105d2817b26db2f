"""Synthetic tasks: examples generated at a chosen length, trained on a range, tested beyond it.

A synthetic task maps a length (operand digits, string length, or operand count) and a NumPy
generator to one ``Example``. Everything is deterministic given a seed: training batch ``step`` is
drawn from (seed, step) alone, so a resumed run sees exactly the batches it would have seen without
the interruption, with no iterator state to checkpoint. Test sets are drawn from ``task.test_seed``
(default 0), never from the run's training seed, so runs that differ only in ``config.seed`` are
scored on the same problems; each test length has its own fixed set.

Overlap with training: every training length is drawn uniformly over all its prompts, so the
training distribution can produce every prompt of a length inside ``task.train_lengths`` and none
of a length beyond it. Excluding training prompts from an in-range test set is therefore impossible
(at length 1 addition has only 100 prompts, and a run sees them all), and a test length beyond the
range is disjoint from training by construction. Rather than pretend otherwise, the length report
states for each length ``possible_in_training`` (whether training can produce its test prompts; then
it can produce all of them) and ``prompt_space`` (how many distinct prompts the test set is drawn
from; None where unknown), so a reader can tell recall of a small space from generalization.

Grading: a synthetic answer is the whole completion up to EOS. Three verdicts:

- exact: the completion ended with EOS and its text equals the target string;
- symbolic (numeric): the completion ended with EOS and states the same number as the target
  (``answer_value``; a task without a number, like copy, uses the exact verdict);
- steps: arithmetic tasks are checked as a chain ``prompt = answer`` (one step) or
  ``prompt = step1 = step2 = ...`` (every rewrite is a step), each step right when both sides
  have the same value (``grading.steps.evaluate_arithmetic``, exact fractions, never ``eval``); a side
  that does not parse makes its step wrong.

The two-operand tasks can also write their numbers with index hints, zero padding or random
spaces in training (``tasks/formats.py``). The exact verdict compares the completion with the
target as written (hints and padding included); the numeric verdict and the step audit read the
numbers with the hint letters removed, so a completion whose digits are right but whose hints are
misplaced or missing is symbolic-correct and not exact: the numeric verdict asks whether the model
computed the sum, the exact one whether it also kept the format it was trained on.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from mathpe_jax.data.tasks.base import Task, config_error
from mathpe_jax.data.tasks.buckets import length_group
from mathpe_jax.data.tasks.formats import HINTS, PLAIN, NumberFormat, gaps_around_numbers, with_spaces, with_spaces_around_numbers
from mathpe_jax.data.tokenizer import SYNTHETIC_ALPHABET
from mathpe_jax.grading.extraction import extract_answer
from mathpe_jax.grading.prediction import Completion, Prediction, audit_fields
from mathpe_jax.grading.steps import EquationCheck, StepEquation, evaluate_arithmetic

# Stream ids keep training batches, per-length test sets and operand-grid cells apart even where
# the training seed and the test seed are equal.
TRAIN_STREAM, EVAL_STREAM, GRID_STREAM = 0, 1, 2
_DIGITS = re.compile(r"\d+")


@dataclasses.dataclass(frozen=True)
class Example:
    prompt: str
    answer: str
    length: int  # the task's length measure (operand digits, characters, operands)
    operands: tuple[int, ...] | None = None  # each operand's digit count, where the task has operands


# NumPy draws int64: at most 18 decimal digits in one call.
_DRAW_DIGITS = 18


def number(rng: np.random.Generator, digits: int) -> int:
    """A uniformly drawn integer with exactly ``digits`` digits (0 allowed for one digit).

    Longer numbers are drawn 18 digits at a time (the leading part with ``digits - 18`` digits,
    then 18 free digits), which is uniform over the same set and leaves numbers of up to 18
    digits drawn exactly as before."""
    if digits > _DRAW_DIGITS:
        return number(rng, digits - _DRAW_DIGITS) * 10**_DRAW_DIGITS + int(rng.integers(0, 10**_DRAW_DIGITS))
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return int(rng.integers(low, 10**digits))


def numbers_with(digits: int) -> int:
    """How many integers ``number`` can draw at ``digits``: the size of one operand's space."""
    return 10 if digits == 1 else 9 * 10 ** (digits - 1)


class SyntheticTask(Task):
    """Shared sampling, splits and grading; a subclass supplies ``generate`` and ``longest``."""

    kind = "synthetic"
    answer_style = "synthetic"
    #: This task's numbers are written least-significant digit first unless ``task.reverse=False``.
    reversible: ClassVar[bool] = False
    #: Answers are checked as arithmetic chains (``prompt = answer``, or steps).
    arithmetic: ClassVar[bool] = True
    #: Answers are digit strings, so the length report scores them digit by digit.
    digit_answers: ClassVar[bool] = True
    #: Two operands whose lengths ``task.unequal_operands`` may draw apart (``OperandTask``).
    two_operands: ClassVar[bool] = False

    def __init__(self, task_cfg: Mapping[str, Any], seed: int = 0):
        super().__init__(task_cfg, seed)
        # Unset (None), a reversible task writes its numbers least-significant digit first, the
        # order in which carries are produced; a task without numbers ignores the key.
        reverse = task_cfg.get("reverse")
        self.reverse = self.reversible and (reverse is None or bool(reverse))
        self.train_lengths: tuple[int, int] = tuple(task_cfg["train_lengths"])
        self.test_lengths: tuple[int, ...] = tuple(task_cfg["test_lengths"])
        self.test_seed = int(task_cfg.get("test_seed", 0))  # configs saved before the key read 0

    # -- what a subclass defines -------------------------------------------------------------------
    @staticmethod
    @abc.abstractmethod
    def generate(rng: np.random.Generator, length: int, reverse: bool) -> Example:
        """One example at ``length`` drawn from ``rng`` (``reverse``: numbers least-significant digit first)."""

    @staticmethod
    @abc.abstractmethod
    def longest(length: int) -> int:
        """An upper bound on ``len(prompt + answer)`` in characters at ``length``."""

    @classmethod
    def longest_as_configured(cls, task_cfg: Mapping[str, Any], length: int, training: bool = False) -> int:
        """``longest`` as ``task_cfg`` writes the task, in training (``training``) or in tests;
        a task without writing options: ``longest``."""
        del task_cfg, training
        return cls.longest(length)

    @property
    def alphabet(self) -> str:
        """The characters of this task's text, for its ``CharTokenizer``."""
        return SYNTHETIC_ALPHABET

    def final_answer(self, answer: str) -> str | None:
        """The part of an answer that states its number (None: the task has none)."""
        return answer.strip()

    def prompt_space(self, length: int) -> int | None:
        """How many distinct prompts the test set at ``length`` is drawn from (None: not known),
        so a report can tell a small space that training covers from a large one."""
        del length
        return None

    # -- configuration -----------------------------------------------------------------------------
    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any], model_max_len: int | None) -> None:
        train = tuple(task_cfg["train_lengths"])
        if not (len(train) == 2 and all(isinstance(n, int) for n in train) and 1 <= train[0] <= train[1]):
            raise config_error("train_lengths", train, "must be an inclusive range (low, high) with 1 <= low <= high")
        test = tuple(task_cfg["test_lengths"])
        if not all(isinstance(n, int) and n >= 1 for n in test):
            raise config_error("test_lengths", test, "lengths must be integers >= 1")
        test_seed = task_cfg.get("test_seed", 0)
        if isinstance(test_seed, bool) or not isinstance(test_seed, int) or test_seed < 0:
            raise config_error("test_seed", test_seed, "must be an integer >= 0 (it alone fixes the test problems, "
                               "so runs with different config.seed are scored on the same ones)")
        cls._check_operand_options(task_cfg)
        inside = [n for n in test if n <= train[1]]
        if inside:
            raise config_error("test_lengths", test, f"length {inside[0]} is not beyond task.train_lengths={train}; "
                               "test lengths measure generalization past the training range")
        cls._check_writable(task_cfg, max((*test, train[1])))
        extra = 1 + bool(task_cfg.get("bos", True))  # EOS (and BOS)
        for key, lengths, length, training in (("train_lengths", train, train[1], True), ("test_lengths", test, max(test), False)):
            tokens = cls.longest_as_configured(task_cfg, length, training) + extra
            if model_max_len is not None and tokens > model_max_len:
                raise config_error(key, lengths, f"{cls.name} at length {length} takes up to {tokens} tokens "
                                   f"(BOS, prompt{' with training spaces' * training}, answer, EOS), more than "
                                   f"model.max_len={model_max_len}")

    @classmethod
    def _check_writable(cls, task_cfg: Mapping[str, Any], length: int) -> None:
        """Refuses a config whose problems at ``length`` (its longest) this task cannot write;
        every task without writing options can write any length."""
        del task_cfg, length

    @classmethod
    def _check_operand_options(cls, task_cfg: Mapping[str, Any]) -> None:
        """The options of two-operand tasks: of the right type, and left at their defaults by the
        other tasks, so a config never asks for a format its task would silently ignore."""
        for key in ("unequal_operands", "index_hints", "zero_pad"):
            value = task_cfg.get(key, False)
            if not isinstance(value, bool):
                raise config_error(key, value, "must be True or False")
            cls._refuse_without_operands(key, value)
        spaces = task_cfg.get("random_spaces", 0.0)
        if isinstance(spaces, bool) or not isinstance(spaces, int | float) or not 0 <= spaces < 1:
            raise config_error("random_spaces", spaces, "must be a probability in [0, 1)")
        cls._refuse_without_operands("random_spaces", spaces)
        around = task_cfg.get("spaces_around_numbers", 0)
        if isinstance(around, bool) or not isinstance(around, int) or around < 0:
            raise config_error("spaces_around_numbers", around, "must be a whole number of spaces >= 0")
        cls._refuse_without_operands("spaces_around_numbers", around)

    @classmethod
    def _refuse_without_operands(cls, key: str, value: Any) -> None:
        if value and not cls.two_operands:
            raise config_error(key, value, f"{cls.name} has no two operands to write this way; "
                               "only addition and multiplication do")

    # -- examples ----------------------------------------------------------------------------------
    def sample(self, lengths: Sequence[int], count: int, seed: int | Sequence[int]) -> list[Example]:
        """``count`` examples, lengths drawn uniformly from ``lengths``."""
        return self._sample(np.random.default_rng(seed), lengths, count)

    def _sample(self, rng: np.random.Generator, lengths: Sequence[int], count: int) -> list[Example]:
        choices = rng.choice(np.asarray(lengths), size=count)
        return [self.example(rng, int(n)) for n in choices]

    def example(self, rng: np.random.Generator, length: int) -> Example:
        """One example at ``length`` as this task's config writes it."""
        return self.generate(rng, length, self.reverse)

    def train_examples(self, batch: int, step: int) -> list[Example]:
        """Training batch ``step`` over the training range: a function of (seed, step) only."""
        return self._training_batch(np.random.default_rng((self.seed, TRAIN_STREAM, step)), batch)

    def _training_batch(self, rng: np.random.Generator, batch: int) -> list[Example]:
        lo, hi = self.train_lengths
        return self._sample(rng, list(range(lo, hi + 1)), batch)

    def test_examples(self, length: int, count: int) -> list[Example]:
        """The fixed test set of one length: a function of (test_seed, length), not of the
        training seed, so every run of a comparison is scored on the same problems."""
        return self.sample([length], count, (self.test_seed, EVAL_STREAM, length))

    def eval_lengths(self) -> list[int]:
        """Every training length and every test length, ascending."""
        lo, hi = self.train_lengths
        return sorted({*range(lo, hi + 1), *self.test_lengths})

    def overlap(self, length: int) -> dict[str, Any]:
        """What training can have shown of the test set at ``length`` (see the module docstring):
        ``{"prompt_space", "possible_in_training"}``."""
        lo, hi = self.train_lengths
        return {"prompt_space": self.prompt_space(length), "possible_in_training": lo <= length <= hi}

    def grid_pairs(self) -> list[tuple[int, int]]:
        """The (first, second) operand lengths evaluated as a grid; none unless the task trains
        on operands of unequal length (``OperandTask``)."""
        return []

    def grid_examples(self, len_a: int, len_b: int, count: int) -> list[Example]:
        """The fixed test set of the grid cell (``len_a``, ``len_b``); a task without operands has
        no grid (``grid_pairs`` is empty), so no cell holds examples."""
        del len_a, len_b, count
        return []

    def prompt(self, question: str, template: str | None = None) -> str:
        """A synthetic prompt is shown as it is: templates are for text datasets."""
        del template
        return question

    def target(self, example: Example) -> str:
        return example.answer

    def length_bucket(self, length: int, edges: tuple[float, float] | None = None) -> str:
        return length_group(length, self.train_lengths)

    # -- grading -----------------------------------------------------------------------------------
    def as_written(self, text: str) -> str:
        """``text`` with every number read back in the usual digit order."""
        if self.reverse:
            return _DIGITS.sub(lambda m: m.group()[::-1], text)
        return text

    def answer_value(self, answer: str) -> int | None:
        """The integer an answer states, or None (no number, or not a plain integer)."""
        final = self.final_answer(answer)
        if final is None or not re.fullmatch(r"-?\d+", final):
            return None
        return int(self.as_written(final))

    def step_chain(self, prompt: str, completion: str) -> list[str]:
        """The terms claimed equal: the prompt's expression, then each ``=``-separated answer term."""
        question = self.as_written(prompt.rstrip().removesuffix("="))
        return [question] + [self.as_written(term) for term in completion.split("=")]

    def grade(self, completions: Sequence[Completion]) -> list[Prediction]:
        return [self._grade_one(c) for c in completions]

    def _grade_one(self, c: Completion) -> Prediction:
        """Exact: the completion is the target and ended; symbolic: the answer's value is the
        target's (``answer_value``), so ``050`` still answers ``50``."""
        extracted = extract_answer(c.completion, self.answer_style)
        exact = c.ended and c.completion == c.gold
        gold_value = self.answer_value(c.gold)
        if gold_value is None:
            symbolic = exact
        else:
            symbolic = c.ended and extracted is not None and self.answer_value(extracted) == gold_value
        if self.arithmetic:
            audit = check_chain(self.step_chain(c.prompt, c.completion))
        else:
            audit = EquationCheck(n_steps=0, equations=(), fraction_correct=None, first_wrong_step=None)
        status = "correct" if symbolic else ("no answer" if extracted is None else "wrong")
        return Prediction(
            id=c.problem_id,
            prompt=c.prompt,
            completion=c.completion,
            extracted=extracted,
            gold=c.gold,
            correct=exact,
            symbolic_correct=symbolic,
            grade_status=status,
            error_class=_error_class(symbolic, not c.ended, extracted, audit),
            length=c.length,
            length_bucket=c.length_bucket,
            truncated=not c.ended,
            completion_tokens=c.completion_tokens,
            **audit_fields(audit),
        )


class OperandTask(SyntheticTask):
    """A binary operation ``a<symbol>b=`` on two integers whose digit counts are chosen apart.

    By default a problem's operand lengths follow from its length (``operand_lengths``). With
    ``task.unequal_operands`` each training example draws the two lengths independently from the
    training range, and evaluation adds a grid over (first, second) operand lengths, because a
    model trained only on equal lengths can fail on mixed ones for reasons a per-length score
    hides (aligning digits of different magnitude). The per-length test sets stay as they are, so
    their scores compare with runs trained on equal lengths. A problem's length is its longer
    operand's digit count.

    ``task.index_hints``, ``task.zero_pad``, ``task.random_spaces`` and
    ``task.spaces_around_numbers`` change how problems are written (``tasks/formats.py``), never
    which are drawn: hints and padding apply to every example, spaces to training prompts alone.
    """

    reversible = True
    two_operands = True
    #: The operator as written in the prompt.
    symbol: ClassVar[str]

    def __init__(self, task_cfg: Mapping[str, Any], seed: int = 0):
        super().__init__(task_cfg, seed)
        self.unequal_operands = bool(task_cfg.get("unequal_operands", False))
        self.form = NumberFormat.from_config(task_cfg)
        self.random_spaces = float(task_cfg.get("random_spaces", 0.0))
        self.spaces_around_numbers = int(task_cfg.get("spaces_around_numbers", 0))

    @staticmethod
    @abc.abstractmethod
    def apply(a: int, b: int) -> int:
        """The operation's value."""

    @staticmethod
    @abc.abstractmethod
    def answer_digits(width: int) -> int:
        """The most digits an answer has when neither operand has more than ``width`` (the width
        ``task.zero_pad`` pads answers to)."""

    @classmethod
    @abc.abstractmethod
    def operand_lengths(cls, rng: np.random.Generator, length: int) -> tuple[int, int]:
        """The two operands' digit counts of a problem at ``length``, drawn from ``rng`` if they vary."""

    @classmethod
    def _check_writable(cls, task_cfg: Mapping[str, Any], length: int) -> None:
        """Index hints must name every place of the longest answer (``len(HINTS)`` places)."""
        places = cls.answer_digits(length)
        if task_cfg.get("index_hints", False) and places > len(HINTS):
            raise config_error("index_hints", True, f"{cls.name} at length {length} writes answers of up to "
                               f"{places} digits, more than the {len(HINTS)} places index hints can name")

    @classmethod
    def longest(cls, length: int) -> int:
        return cls.longest_as_configured({}, length)

    @classmethod
    def longest_as_configured(cls, task_cfg: Mapping[str, Any], length: int, training: bool = False) -> int:
        """Two operands of ``length`` digits, the operator, ``=`` and the longest answer, each
        digit after its hint with ``task.index_hints`` (padding reaches these widths and no
        further); in training, with ``task.random_spaces``, a space in every gap of the prompt,
        and with ``task.spaces_around_numbers``, the most spaces in every gap they fill: the
        worst case."""
        form = NumberFormat.from_config(task_cfg)
        prompt = form.chars(2 * length) + 2
        if not training:
            return prompt + form.chars(cls.answer_digits(length))
        spaced = bool(task_cfg.get("random_spaces", 0.0))
        prompt += prompt - 1 if spaced else 0
        prompt += task_cfg.get("spaces_around_numbers", 0) * gaps_around_numbers(prompt, spaced)
        return prompt + form.chars(cls.answer_digits(length))

    @property
    def alphabet(self) -> str:
        """The synthetic alphabet, then the hint letters when hints are on: runs without hints
        keep their token ids and vocabulary size, and a hinted run's ids extend theirs."""
        return SYNTHETIC_ALPHABET + (HINTS if self.form.index_hints else "")

    @classmethod
    def pair(cls, rng: np.random.Generator, len_a: int, len_b: int, reverse: bool,
             form: NumberFormat = PLAIN) -> Example:
        """One problem with a ``len_a``-digit first and a ``len_b``-digit second operand, written
        in ``form`` (operands padded to the longer one's width, the answer to ``answer_digits``)."""
        a, b = number(rng, len_a), number(rng, len_b)
        width = max(len_a, len_b)
        prompt = f"{form.write(a, width, reverse)}{cls.symbol}{form.write(b, width, reverse)}="
        answer = form.write(cls.apply(a, b), cls.answer_digits(width), reverse)
        return Example(prompt, answer, width, (len_a, len_b))

    @classmethod
    def generate(cls, rng: np.random.Generator, length: int, reverse: bool,
                 form: NumberFormat = PLAIN) -> Example:
        return cls.pair(rng, *cls.operand_lengths(rng, length), reverse, form)

    def example(self, rng: np.random.Generator, length: int) -> Example:
        return self.generate(rng, length, self.reverse, self.form)

    def _training_batch(self, rng: np.random.Generator, batch: int) -> list[Example]:
        """With ``unequal_operands``, both operand lengths drawn independently from the training
        range; otherwise as every synthetic task. With ``random_spaces`` and
        ``spaces_around_numbers``, spaces then drawn into each prompt from the same generator, so
        a batch stays a function of (seed, step)."""
        if self.unequal_operands:
            lo, hi = self.train_lengths
            lengths = rng.integers(lo, hi + 1, size=(batch, 2))
            examples = [self.pair(rng, int(a), int(b), self.reverse, self.form) for a, b in lengths]
        else:
            examples = super()._training_batch(rng, batch)
        if self.random_spaces:
            examples = [dataclasses.replace(e, prompt=with_spaces(e.prompt, rng, self.random_spaces)) for e in examples]
        if self.spaces_around_numbers:
            examples = [dataclasses.replace(e, prompt=with_spaces_around_numbers(e.prompt, rng, self.spaces_around_numbers))
                        for e in examples]
        return examples

    def grid_pairs(self) -> list[tuple[int, int]]:
        """Every (first, second) pair of evaluated lengths, when training mixes operand lengths."""
        if not self.unequal_operands:
            return []
        lengths = self.eval_lengths()
        return [(a, b) for a in lengths for b in lengths]

    def grid_examples(self, len_a: int, len_b: int, count: int) -> list[Example]:
        """The fixed test set of one grid cell, a function of (test_seed, len_a, len_b)."""
        rng = np.random.default_rng((self.test_seed, GRID_STREAM, len_a, len_b))
        return [self.pair(rng, len_a, len_b, self.reverse, self.form) for _ in range(count)]

    # -- grading -----------------------------------------------------------------------------------
    def final_answer(self, answer: str) -> str | None:
        """The answer's digits, hint letters removed (see the module docstring)."""
        return super().final_answer(self.form.plain(answer))

    def as_written(self, text: str) -> str:
        """Hint letters removed, then every number read back in the usual digit order."""
        return super().as_written(self.form.plain(text))


def check_chain(terms: Sequence[str]) -> EquationCheck:
    """Each adjacent pair of ``terms`` is one step (step ``i`` rewrites term ``i`` into ``i + 1``),
    right when both sides parse and have the same value."""
    equations = []
    for step, (left, right) in enumerate(itertools.pairwise(terms)):
        value = evaluate_arithmetic(left)
        correct = value is not None and value == evaluate_arithmetic(right)
        equations.append(StepEquation(step=step, text=f"{left.strip()} = {right.strip()}", correct=correct))
    n_correct = sum(eq.correct for eq in equations)
    return EquationCheck(
        n_steps=len(equations),
        equations=tuple(equations),
        fraction_correct=n_correct / len(equations) if equations else None,
        first_wrong_step=next((eq.step for eq in equations if not eq.correct), None),
    )


def _error_class(symbolic: bool, truncated: bool, extracted: str | None, audit: EquationCheck) -> str:
    """``grading.steps.classify_error``'s order, with the chain audit in place of equations found in
    prose: correct, truncated, no_answer, calculation_error (a wrong step), else reasoning_error
    (every step holds yet the answer is wrong or unfinished; also any wrong copy)."""
    if symbolic:
        return "correct"
    if truncated:
        return "truncated"
    if extracted is None:
        return "no_answer"
    if audit.first_wrong_step is not None:
        return "calculation_error"
    return "reasoning_error"
