"""Perturbed GSM8K problems for testing whether a model reasons or recalls.

Three perturbations, each deterministic given a ``random.Random``:

- ``perturb_numbers`` changes the numbers in a problem and recomputes the
  answer by replaying the reference solution's calculator annotations
  (``<<48/2=24>>``) with the new numbers (GSM-Symbolic style). A model that
  memorised the original answer fails the perturbed one.
- ``add_irrelevant_sentence`` inserts a distractor that mentions a number
  (GSM-IC style).
- ``rephrase`` rewords the problem without changing its content.

The annotations are replayed with ``steps.evaluate_arithmetic`` (exact
fractions, never ``eval``). Replaying is only sound when every number in an
annotation can be traced to the question, an earlier result or a common
constant; ``perturb_numbers`` returns None whenever that tracing is
ambiguous, rather than produce a problem with a wrong answer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction

from mathpe_jax.grading.steps import CALCULATOR_ANNOTATION, evaluate_arithmetic

__all__ = ["PerturbedProblem", "add_irrelevant_sentence", "perturb_numbers", "rephrase"]

_FINAL = re.compile(r"####\s*(\S+)\s*$")
# An integer in prose; not part of a word ("5th"), decimal ("2.5") or time ("3:00").
_QUESTION_INT = re.compile(r"(?<![\w.,:])(\d{1,3}(?:,\d{3})+|\d+)(?![\w:]|[.,]\d)")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\w]|[.,]\d)")
# Numbers in solution prose, where "700x2" and "$5" occur.
_PROSE_NUMBER = re.compile(
    r"(?<![\d.,])(?<![A-Za-wyz])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!\d|[.,]\d)"
)

# Question numbers below this are kept (see perturb_numbers).
_MIN_CHANGED = 10
_VISIBLE_EQUATION_END = re.compile(r"=\s*\$?\s*$")
# "=" not followed by an annotation: arithmetic the annotations do not record.
_UNANNOTATED_EQUALS = re.compile(r"=(?!\s*\$?\s*<<)")

# Constants a solution may use without them appearing in the question
# (unit conversions, halves, percentages).
_CONSTANTS = frozenset(
    [Fraction(1, 2), Fraction(1, 4)]
    + [Fraction(n) for n in (1, 2, 3, 4, 5, 6, 7, 10, 12, 24, 30, 52, 60, 100, 365, 1000)]
)
# A question number equal to one of these may really be the constant (e.g.
# "half" -> 2 while the question also says "2 bolts"); then the solution's
# use of the value is ambiguous and the problem is not perturbed.
_CONSTANT_WORDS = {
    Fraction(2): ("half", "twice", "double", "pair", "both"),
    Fraction(3): ("third", "triple"),
    Fraction(4): ("quarter", "fourth"),
    Fraction(7): ("week",),
    Fraction(12): ("dozen", "month", "year", "foot", "feet"),
    Fraction(24): ("day",),
    Fraction(30): ("month",),
    Fraction(52): ("year",),
    Fraction(60): ("hour", "minute"),
    Fraction(100): ("percent", "%", "cent"),
    Fraction(365): ("year",),
    Fraction(1000): ("kilo", "thousand"),
}


@dataclass(frozen=True)
class PerturbedProblem:
    """A problem with new numbers, its replayed solution and final answer."""

    question: str
    solution: str
    answer: str


def _value(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _format(value: Fraction, with_commas: bool = False) -> str:
    if value.denominator == 1:
        return f"{value.numerator:,}" if with_commas else str(value.numerator)
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _is_short_decimal(value: Fraction) -> bool:
    return (value * 100).denominator == 1


def _sample(value: Fraction, rng: random.Random) -> Fraction:
    """A new positive integer of similar size and roundness (20 -> 30, not 23)."""
    n = value.numerator
    step = 1
    while n >= 10 * step and n % (10 * step) == 0:
        step *= 10
    low, high = max(1, n // 2 // step), max(n * 2 // step, n // step + 3)
    choices = [k * step for k in range(low, high + 1) if k * step != n]
    return Fraction(rng.choice(choices))


def _trace_operands(
    annotations: list[tuple[str, str]], question_values: set[Fraction]
) -> list[list[str]] | None:
    """Label each annotation operand "q" (question), "r<i>" (result i) or "c" (constant).

    Returns None if an annotation computes nothing (``<<15=15>>``), uses only
    constants, states a result that is not exactly its value, or has an
    operand that is untraceable or traceable two ways (a question number
    that is also an earlier result, or an earlier result that is also a
    common constant).
    """
    results: list[Fraction] = []
    labels: list[list[str]] = []
    for lhs, rhs in annotations:
        operands = [_value(n) for n in _NUMBER.findall(lhs)]
        value = evaluate_arithmetic(lhs)
        if len(operands) < 2 or value is None or evaluate_arithmetic(rhs) != value:
            return None
        row = []
        for operand in operands:
            earlier = [i for i, r in enumerate(results) if r == operand]
            if earlier and (operand in question_values or operand in _CONSTANTS):
                return None
            if operand in question_values:
                row.append("q")
            elif earlier:
                row.append(f"r{earlier[-1]}")
            elif operand in _CONSTANTS:
                row.append("c")
            else:
                return None
        if all(label == "c" for label in row):
            return None  # constants only: its inputs were computed off the record
        labels.append(row)
        results.append(value)
    return labels


@dataclass(frozen=True)
class _Plan:
    """How a solution's annotations depend on the question's numbers."""

    annotations: list[tuple[str, str]]
    labels: list[list[str]]
    originals: list[Fraction]  # original annotation results
    final_index: int  # annotation whose result is the final answer
    changeable: list[Fraction]  # question values to perturb


def _visible_operands(prose: str, lhs: str) -> list[re.Match] | None:
    """The numbers of the visible equation ``... = `` right before an annotation.

    GSM8K writes ``16 - 3 - 4 = <<16-3-4=9>>``; the last numbers before the
    annotation are its operands, possibly reordered (``2*8 = <<8*2=16>>``).
    None if they are not (a mis-copied annotation cannot be trusted).
    """
    operands = sorted(_value(n) for n in _NUMBER.findall(lhs))
    numbers = list(_PROSE_NUMBER.finditer(prose))[-len(operands) :]
    if len(numbers) != len(operands) or sorted(_value(m.group()) for m in numbers) != operands:
        return None
    return numbers


def _plan(question: str, solution: str) -> _Plan | None:
    final = _FINAL.search(solution.strip())
    annotations = CALCULATOR_ANNOTATION.findall(solution)
    if final is None or not annotations:
        return None
    try:
        final_value = _value(final.group(1))
    except ValueError:
        return None
    question_values = {_value(n) for n in _QUESTION_INT.findall(question)}
    lowered = question.lower()
    for constant, words in _CONSTANT_WORDS.items():
        if constant in question_values and any(word in lowered for word in words):
            return None
    body = _FINAL.sub("", solution.strip())
    if _UNANNOTATED_EQUALS.search(CALCULATOR_ANNOTATION.sub("<<>>", body)):
        return None  # a result computed outside the annotations cannot be replayed
    for prose, (lhs, _) in zip(CALCULATOR_ANNOTATION.split(body)[::3], annotations):
        if _VISIBLE_EQUATION_END.search(prose) and _visible_operands(prose, lhs) is None:
            return None
    labels = _trace_operands(annotations, question_values)
    if labels is None:
        return None
    originals = [evaluate_arithmetic(lhs) for lhs, _ in annotations]
    if any(value < 0 for value in originals):
        return None  # signs are not tracked through the operands
    final_index = max((i for i, r in enumerate(originals) if r == final_value), default=None)
    changeable = sorted(
        {
            _value(n)
            for (lhs, _), row in zip(annotations, labels)
            for n, label in zip(_NUMBER.findall(lhs), row)
            if label == "q" and _value(n) >= _MIN_CHANGED
        }
    )
    if final_index is None or not changeable:
        return None
    return _Plan(annotations, labels, originals, final_index, changeable)


def perturb_numbers(
    question: str, answer_solution: str, rng: random.Random, max_tries: int = 20
) -> PerturbedProblem | None:
    """Change the question's numbers and recompute the answer, or return None.

    Every question number of at least 10 that the solution's annotations use
    gets a new value of similar size and roundness (equal numbers stay
    equal). Smaller numbers are kept: they are often counts that fix the
    shape of the solution ("a 4-level sandcastle"), which replaying the
    same annotations cannot follow. The annotations are replayed in order; a
    draw is kept only if every intermediate result stays non-negative and
    as "nice" as the original (integers stay integers, others have at most
    two decimals).

    None when the solution has no annotations, writes an equation without
    one or one that disagrees with its annotation, has a negative
    intermediate result, the final answer is not an annotation result,
    operands cannot be traced unambiguously, nothing can be changed, or no
    draw works in ``max_tries``. The returned solution's annotations,
    visible equations and printed results are exact; other prose numbers
    are rewritten only when their value has a single meaning.
    """
    plan = _plan(question, answer_solution)
    if plan is None:
        return None
    for _ in range(max_tries):
        mapping = {v: _sample(v, rng) for v in plan.changeable}
        if len(set(mapping.values())) != len(mapping):
            continue
        replay = _replay(plan, mapping)
        if replay is not None:
            return _render(question, answer_solution, plan, replay, mapping)
    return None


@dataclass(frozen=True)
class _Replay:
    operands: list[list[Fraction]]  # new operand values, per annotation
    expressions: list[str]  # new annotation left-hand sides
    results: list[Fraction]


def _replay(plan: _Plan, mapping: dict[Fraction, Fraction]) -> _Replay | None:
    """Recompute the annotations under ``mapping``; None if a result is implausible."""
    replay = _Replay(operands=[], expressions=[], results=[])
    for (lhs, _), row, original in zip(plan.annotations, plan.labels, plan.originals):
        new_operands = []
        for number, label in zip(_NUMBER.findall(lhs), row):
            if label.startswith("r"):
                new_operands.append(replay.results[int(label[1:])])
            else:
                new_operands.append(mapping.get(_value(number), _value(number)))
        expr = _substitute_in_order(lhs, new_operands)
        value = evaluate_arithmetic(expr)
        if value is None or value < 0 or not _is_short_decimal(value):
            return None
        if original.denominator == 1 and value.denominator != 1:
            return None
        replay.operands.append(new_operands)
        replay.expressions.append(expr)
        replay.results.append(value)
    return replay


def _substitute_in_order(expr: str, values: list[Fraction]) -> str:
    """Replace the numbers of ``expr``, left to right, by ``values``."""
    remaining = iter(values)
    return _NUMBER.sub(lambda _: _format(next(remaining)), expr)


def _rewrite_numbers(text: str, table: dict[Fraction, Fraction], pattern: re.Pattern = _PROSE_NUMBER) -> str:
    """Replace each number whose value is in ``table``, keeping comma grouping."""

    def rewrite(match: re.Match) -> str:
        value = _value(match.group())
        return _format(table[value], "," in match.group()) if value in table else match.group()

    return pattern.sub(rewrite, text)


def _render(
    question: str, solution: str, plan: _Plan, replay: _Replay, mapping: dict[Fraction, Fraction]
) -> PerturbedProblem:
    # Prose numbers outside the visible equations: a value is rewritten only if every use of it in
    # the annotations changes it the same way.
    meanings: dict[Fraction, set[Fraction]] = {}
    for (lhs, _), new_operands in zip(plan.annotations, replay.operands):
        for number, new in zip(_NUMBER.findall(lhs), new_operands):
            meanings.setdefault(_value(number), set()).add(new)
    for old, new in zip(plan.originals, replay.results):
        meanings.setdefault(old, set()).add(new)
    prose_map = {old: next(iter(new)) for old, new in meanings.items() if len(new) == 1}

    body = _FINAL.sub("", solution.strip()).rstrip()
    pieces = CALCULATOR_ANNOTATION.split(body)  # prose, lhs, rhs, prose, lhs, rhs, ..., prose
    out = []
    for i, prose in enumerate(pieces[::3]):
        if i > 0:  # the result printed right after annotation i-1
            printed = _PROSE_NUMBER.match(prose)
            if printed is not None and _value(printed.group()) == plan.originals[i - 1]:
                out.append(_format(replay.results[i - 1], "," in printed.group()))
                prose = prose[printed.end() :]
        visible = _visible_operands(prose, plan.annotations[i][0]) if i < len(plan.annotations) else None
        if visible:
            lhs = plan.annotations[i][0]
            local = dict(zip((_value(n) for n in _NUMBER.findall(lhs)), replay.operands[i]))
            start = visible[0].start()
            out.append(_rewrite_numbers(prose[:start], prose_map))
            out.append(_rewrite_numbers(prose[start:], local))
        else:
            out.append(_rewrite_numbers(prose, prose_map))
        if i < len(plan.annotations):
            out.append(f"<<{replay.expressions[i]}={_format(replay.results[i])}>>")
    answer_text = _format(replay.results[plan.final_index])
    return PerturbedProblem(
        question=_rewrite_numbers(question, mapping, _QUESTION_INT),
        solution="".join(out) + f"\n#### {answer_text}",
        answer=answer_text,
    )


_NAMES = ("Priya", "Tomas", "Wen", "Amara", "Lucas", "Fatima", "Oskar", "Mei")
_DISTRACTORS = (
    "{name}'s neighbor has {n} cats.",
    "The town library owns {n} books about gardening.",
    "{name}'s cousin is {n} years old.",
    "A shop nearby sells {n} kinds of tea.",
    "Last year, {name} read {n} novels.",
    "The bus to the city stops {n} times on its route.",
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _split_last_sentence(question: str) -> tuple[str, str]:
    parts = _SENTENCES.split(question.strip())
    return " ".join(parts[:-1]), parts[-1]


def add_irrelevant_sentence(question: str, rng: random.Random) -> str:
    """Insert a sentence with an irrelevant number just before the final question.

    The distractor uses a person not named in the question, so it cannot
    change the answer.
    """
    names = [name for name in _NAMES if name not in question] or ["Someone"]
    sentence = rng.choice(_DISTRACTORS).format(name=rng.choice(names), n=rng.randint(2, 40))
    context, last = _split_last_sentence(question)
    return f"{context} {sentence} {last}" if context else f"{sentence} {last}"


def _how_many(question: str) -> str | None:
    return question.replace("How many", "What number of") if "How many" in question else None


def _how_much(question: str) -> str | None:
    return question.replace("How much", "What amount") if "How much" in question else None


def _question_first(question: str) -> str | None:
    context, last = _split_last_sentence(question)
    if not context or not last.endswith("?"):
        return None
    return f"{last} Use the following information. {context}"


def _with_instruction(question: str) -> str | None:
    return f"Solve the following problem. {question.strip()}"


_REWRITES = (_how_many, _how_much, _question_first, _with_instruction)


def rephrase(question: str, rng: random.Random) -> str:
    """Reword ``question`` with one template chosen among those that apply.

    Templates: "How many" -> "What number of", "How much" -> "What amount",
    final question moved to the front, or an instruction prefix (always
    applicable, so some rewrite is always returned).
    """
    options = [rewritten for rewrite in _REWRITES if (rewritten := rewrite(question)) is not None]
    return rng.choice(options)
