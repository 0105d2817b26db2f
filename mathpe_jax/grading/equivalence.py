"""Decide whether a predicted final answer equals the reference answer.

Matching is layered from cheap to expensive:

1. ``normalize_answer`` removes presentation-only differences (math
   delimiters, ``\\boxed``, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, comma
   or thin-space thousands separators, units, whitespace). Identical
   normalised strings match without any parsing, and two plain integers are
   compared exactly; together these settle most GSM8K answers and every
   self-comparison instantly.
2. Otherwise both strings are parsed by math-verify's LaTeX extractor
   (latex2sympy2_extended, an ANTLR grammar) and compared with
   ``math_verify.verify``, in a warm helper process under a budget of CPU
   seconds (``timeout.HelperPool``), so the verdict does not depend on how busy
   the machine is. A parse error is a mismatch; a call that runs out of budget
   is reported as ``"timed out"``, never as a mismatch (``compare_answers``,
   ``GradeResult.status``).

``grade_many`` grades a whole evaluation: extraction and the cheap checks run in
the caller, and the remaining distinct pairs are compared in parallel by the
pool's helpers.

Conventions (math-verify's unless stated):

- Floats: when one side is a float literal, both sides are rounded to 6
  decimal places, so ``0.333333`` matches ``\\frac{1}{3}`` but ``0.333`` and
  ``0.33`` do not; there is no relative tolerance. Two exact values
  (integers, fractions, radicals) must be exactly equal.
- Percent: ``50\\%`` matches ``50`` and ``0.5``/``\\frac{1}{2}``. Additionally
  (this module), a percentage always matches its bare number, so ``5.5\\%``
  matches ``5.5`` as well as ``0.055``; ``25 percent`` and
  ``25\\text{ percent}`` are ``25\\%``.
- ``1,000`` and ``1 000`` are one thousand (a whole answer grouped in threes by
  commas, spaces or ``\\,``); ``1,2`` is the list/set {1, 2}. Decimal commas
  (``1,22`` for 1.22) are not read as decimals: GSM8K and MATH write decimals
  with a point, and a dataset that does not must convert its answers first.
- Several adjacent boxes are one answer: ``\\boxed{1}, \\boxed{2}`` is the
  list ``1, 2`` (``extraction.final_boxed``).
- Units and currency are dropped only when clearly not mathematics: a
  trailing ``\\text``/``\\textbf``/``\\textnormal``/``\\textit``/``\\mbox``/``\\mathrm``
  word (one letter only right after a digit), plain words after a number and a
  space (``5 cm``, ``12\\text{ inches}``, ``6\\pi\\text{ cm}^2``), a leading ``\\$``.
  math-verify's own unit stripping is disabled because it also drops single
  letters, which would make ``x+2m`` equal ``x+2``.
- Degrees are dropped, not converted: ``30^\\circ`` matches ``30``, not
  ``\\frac{\\pi}{6}``.
- ``x = 3`` matches ``3`` when one side is a bare value; two equations must
  agree on the variable. ``\\pm`` expands to a set: ``2 \\pm 1`` matches
  ``\\{1, 3\\}``.
- Sets are unordered; tuples are ordered. A set written in the same order as
  a 2-tuple matches it (math-verify cannot tell ``(1,2)`` the open interval
  from the pair). Intervals must agree on open/closed ends.
- ``verify`` is not symmetric (assignments and relations follow the gold
  format), so the reference is always passed as gold.

Parsing uses only the LaTeX extractor: math-verify's plain-expression
extractor hands text to ``sympy.parse_expr``, which evaluates Python code, and
no text from a model is ever evaluated here.

Input: answers are ``str``; ``None`` stands for "no answer" (False, status
``"no answer"``); any other type raises ``TypeError`` naming it. Answers longer
than ``MAX_ANSWER_CHARS`` are not parsed (a mismatch unless identical), and
normalisation is linear in the length, so no input can stall the caller.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

from mathpe_jax.grading.extraction import (
    extract_answer,
    final_boxed,
    strip_math_delimiters,
)
from mathpe_jax.grading.timeout import HelperDied, HelperPool, TimedOut

__all__ = [
    "DEFAULT_BUDGET_S",
    "STATUSES",
    "GradeResult",
    "answers_match",
    "compare_answers",
    "fresh_helpers",
    "grade",
    "grade_many",
    "normalize_answer",
]

#: CPU seconds a helper may spend parsing and comparing one pair (ordinary answers take ~20 ms).
DEFAULT_BUDGET_S = 5.0
#: A verdict: right, wrong, nothing to grade, or undecided because the comparison ran out of
#: budget ("timed out") or its helper died, e.g. out of memory ("failed").
STATUSES = ("correct", "wrong", "no answer", "timed out", "failed")

# No real final answer is this long (MATH-500's longest is 53 characters); a
# longer string is degenerate output and would only burn the timeout.
MAX_ANSWER_CHARS = 1000

_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])\s*")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![a-zA-Z])")
# "\\frac\\pi3" -> "\\frac{\\pi}{3}": brace single-token arguments that the
# LaTeX parser would otherwise misread (digit-only forms like "\\frac12" are
# handled by math-verify).
_FRAC_COMMAND_NUMERATOR = re.compile(r"\\frac\s*(\\[a-zA-Z]+)")
_FRAC_TOKEN_DENOMINATOR = re.compile(r"(\\frac\{[^{}]*\})\s*(\\[a-zA-Z]+|[0-9a-zA-Z])")
_THOUSANDS_SPACING = re.compile(r"(?<=\d)(?:\\[,;:! ]|\{,\})(?=\d{3}(?!\d))")
# MATH writes "1,\!000,\!000": a comma and a negative thin space between thousands groups.
_COMMA_THIN_SPACE = re.compile(r"(?<=\d),\\!(?=\d{3}(?!\d))")
# "0.1\overline{6}": a repeating decimal, rewritten as the fraction it is.
_REPEATING_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\overline\s*\{(\d{1,12})\}")
# Not after a backslash: "\\\\ " is a matrix row break followed by a space.
_SPACING_COMMANDS = re.compile(r"(?<!\\)\\(?:[,;:! ]|q?quad(?![a-zA-Z]))")
# The whole answer is one number grouped by commas or spaces ("1,450,000", "2 500").
_THOUSANDS_NUMBER = re.compile(r"-?\d{1,3}([, ])\d{3}(?:\1\d{3})*(?:\.\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")
# Plain numbers that need no parser: an integer, a decimal with at most 6 places (math-verify
# rounds floats to 6 places, so such a decimal is compared exactly), or a fraction of integers.
_DECIMAL = re.compile(r"-?\d+(?:\.\d{1,6})?|-?\.\d{1,6}")
_INTEGER_FRACTION = re.compile(r"(-?)\\frac\{(-?\d{1,12})\}\{(-?\d{1,12})\}")
# A trailing unit: "\text{ cm}^2", "\mbox{inches}", or plain words after a
# number ("5 apples"), but never math words such as "4 pi" or "25 percent".
_UNIT_COMMAND = r"\\(?:text|textrm|textbf|textit|textnormal|textsf|mbox|mathrm|mathbf)\s*"
# The word is checked for a letter in code: "[A-Za-z .]*[A-Za-z][A-Za-z .]*" backtracks quadratically.
_TEXT_UNIT = re.compile(_UNIT_COMMAND + r"\{([A-Za-z .]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")
_WORD_UNIT = re.compile(
    r"(?<=\d)\s+(?!(?:pi|sqrt|inf|infty|infinity|percent|percentage|pct)\b)[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?\s*$"
)
_TEXT_NUMBER_WORDS = re.compile(_UNIT_COMMAND + r"\{\s*(-?[\d,.]+)\s+[A-Za-z][A-Za-z .]*\}")
# "25 percent", "25\text{ percent}", "25 per cent" -> "25\%".
_PERCENT_WORD = re.compile(r"(?<=[\d}])\s*(?:\\text\s*\{\s*(?:percent|\\%)\s*\}|per\s?cent)\.?$", re.IGNORECASE)
_CURRENCY = re.compile(r"^(-?)\\?\$\s*(?=[\d.])")
_TRAILING_PERIOD = re.compile(r"(?<![.\\])\.$")
_PERCENT = re.compile(r"(?:\\?%|\\text\s*\{\s*(?:percent|\\%)\s*\}|percent)$")
_WHITESPACE = re.compile(r"\s+")


def normalize_answer(answer: str) -> str:
    """Remove notation that never changes a final answer's value.

    Applied to both sides before comparison; idempotent. It only strips
    presentation (delimiters, box, sizing commands, thousands separators,
    units, currency signs, spacing), never rewrites mathematics. Linear in the
    length of ``answer``.
    """
    text = answer.strip()
    boxed = final_boxed(text)
    if boxed is not None:
        text = boxed
    for _ in range(2):  # e.g. "$\\boxed{...}$" or "\\[ $...$ \\]"
        text = strip_math_delimiters(text)
    text = _LEFT_RIGHT.sub("", text)
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _FRAC_COMMAND_NUMERATOR.sub(r"\\frac{\1}", text)
    text = _FRAC_TOKEN_DENOMINATOR.sub(r"\1{\2}", text)
    text = text.replace("\\displaystyle", "")
    text = text.replace("°", "^\\circ")
    text = _COMMA_THIN_SPACE.sub(",", text)
    text = _THOUSANDS_SPACING.sub("", text)
    text = _SPACING_COMMANDS.sub(" ", text)
    text = _REPEATING_DECIMAL.sub(_repeating_decimal_fraction, text)
    text = _TEXT_NUMBER_WORDS.sub(r"\1", text)
    text = _CURRENCY.sub(r"\1", text)
    text = _TRAILING_PERIOD.sub("", text.strip())
    text = _PERCENT_WORD.sub(r"\\%", text)
    text = _strip_unit(text)
    if _THOUSANDS_NUMBER.fullmatch(text):
        text = text.replace(",", "").replace(" ", "")
    return _WHITESPACE.sub(" ", text).strip()


def _repeating_decimal_fraction(match: re.Match) -> str:
    """``a.b\\overline{c}`` as ``\\frac{p}{q}`` in lowest terms (``0.\\overline{3}`` -> ``\\frac{1}{3}``)."""
    whole, fixed, repeat = match.groups()
    shift, period = 10 ** len(fixed), 10 ** len(repeat)
    value = Fraction(int(whole or 0)) + Fraction(int(fixed or 0), shift) + Fraction(int(repeat), shift * (period - 1))
    return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _strip_unit(text: str) -> str:
    """Drop one trailing unit, keeping anything that could be a variable.

    A trailing ``\\text{...}`` word is dropped after a digit, or after any
    other expression (``6\\pi\\text{ cm}^2``) when it is at least two letters
    long, so that ``\\sqrt{3}\\mathrm{i}`` keeps its imaginary unit; a
    subscript or superscript (``x_\\text{max}``) is never dropped.
    """
    match = _TEXT_UNIT.search(text)
    if match:
        head, word = text[: match.start()].rstrip(), match.group(1).strip()
        has_letter = any(c.isalpha() for c in word)
        if has_letter and head and head[-1] not in "^_" and (head[-1].isdigit() or len(word) > 1):
            return head
    match = _WORD_UNIT.search(text)
    if match and match.start() > 0:
        return text[: match.start()].rstrip()
    return text


def _answer_text(value: object, name: str) -> str | None:
    """``value`` if it is text, None for None; any other type is a caller's mistake."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a str or None, got {type(value).__name__} {value!r:.60}")


def _quick_status(pred_norm: str, gold_norm: str) -> str | None:
    """The verdict on two normalised answers when no parsing is needed to reach it, else None."""
    if not pred_norm or not gold_norm:
        return "no answer" if not pred_norm else "wrong"
    if pred_norm == gold_norm:
        return "correct"
    if len(pred_norm) > MAX_ANSWER_CHARS or len(gold_norm) > MAX_ANSWER_CHARS:
        return "wrong"
    pred_value, gold_value = _plain_number(pred_norm), _plain_number(gold_norm)
    if pred_value is not None and gold_value is not None and {pred_value[1], gold_value[1]} != {"decimal", "fraction"}:
        return "correct" if pred_value[0] == gold_value[0] else "wrong"
    return None


def _plain_number(text: str) -> tuple[Fraction, str | None] | None:
    """The exact value of a plain number and its kind: None for an integer, ``"decimal"`` or
    ``"fraction"``; None for anything else.

    Two plain numbers compare exactly here, as math-verify would compare them, unless one is a
    decimal and the other a fraction (``0.333333`` and ``\\frac{1}{3}``), where math-verify rounds.
    """
    if _INTEGER.fullmatch(text):
        return Fraction(int(text)), None
    if _DECIMAL.fullmatch(text):
        return Fraction(text), "decimal"
    match = _INTEGER_FRACTION.fullmatch(text)
    if match and int(match[3]) != 0:
        sign = -1 if match[1] else 1
        return sign * Fraction(int(match[2]), int(match[3])), "fraction"
    return None


def _bounded_normal_form(answer: str) -> str:
    """``normalize_answer`` of an answer that can be graded; an over-long one is returned as is,
    stripped (it can still equal an identical string, but is never parsed)."""
    answer = answer.strip()
    return answer if len(answer) > MAX_ANSWER_CHARS else normalize_answer(answer)


def _helper_status(pair: tuple[str, str], budget_s: float) -> str:
    """Parse and compare one normalised ``(pred, gold)`` pair in a warm helper."""
    try:
        return "correct" if _HELPERS.run(_verify_in_helper, *pair, budget_s=budget_s) else "wrong"
    except TimedOut:
        return "timed out"
    except HelperDied:
        return "failed"


def compare_answers(pred: str | None, gold: str, timeout_s: float = DEFAULT_BUDGET_S) -> str:
    """The verdict on final answer ``pred`` against ``gold``: one of ``STATUSES``.

    Both are final-answer strings (LaTeX or plain text, with or without
    ``$...$`` or a box), not whole solutions; see the module docstring for the
    conventions. ``timeout_s`` is the CPU time the helper may spend parsing and
    comparing; waiting for a helper is not part of it.
    """
    pred, gold = _answer_text(pred, "pred"), _answer_text(gold, "gold")
    if pred is None:
        return "no answer"
    if gold is None:
        raise TypeError("gold must be a str, got None")
    pair = (_bounded_normal_form(pred), _bounded_normal_form(gold))
    return _quick_status(*pair) or _helper_status(pair, timeout_s)


def answers_match(pred: str | None, gold: str, timeout_s: float = DEFAULT_BUDGET_S) -> bool:
    """True if the final answers ``pred`` and ``gold`` are mathematically equal.

    ``compare_answers(...) == "correct"``: False for a wrong or missing answer,
    and also when the comparison timed out or failed; call ``compare_answers``
    (or ``grade``) to tell those apart.
    """
    return compare_answers(pred, gold, timeout_s) == "correct"


def _warm_up() -> None:
    """Run once in each new helper: imports sympy and math-verify and loads the LaTeX grammar, so
    that no call's budget pays for them."""
    _verify_in_helper("\\frac{1}{2}", "0.5")


_HELPERS = HelperPool(warm_up=_warm_up)


@contextlib.contextmanager
def fresh_helpers(size: int | None = None) -> Iterator[HelperPool]:
    """Grade with ``size`` new helpers (empty caches) inside the block, started at once and ready
    when it begins; the grader's own helpers come back afterwards. For measuring the grader
    under chosen conditions (a load test, a one-process throughput figure)."""
    global _HELPERS
    previous, _HELPERS = _HELPERS, HelperPool(size=size, warm_up=_warm_up)
    try:
        _HELPERS.start()
        yield _HELPERS
    finally:
        _HELPERS.shutdown()
        _HELPERS = previous


@functools.cache
def _latex_config() -> list:
    from latex2sympy2_extended.math_normalization import NormalizationConfig
    from math_verify import LatexExtractionConfig

    return [
        LatexExtractionConfig(
            # The whole string is the answer: never fall back to a fragment.
            try_extract_without_anchor=False,
            boxed_match_priority=0,
            # units=False: see the module docstring; units are stripped by
            # normalize_answer instead.
            normalization_config=NormalizationConfig(
                basic_latex=True,
                units=False,
                malformed_operators=True,
                nits=True,
                boxed="all",
                equations=False,
            ),
        )
    ]


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> list:
    """math-verify's parse of one normalised answer, cached: in an evaluation the same short
    answers ("2", "\\frac{1}{2}") recur on both sides."""
    from math_verify import parse

    return parse("\\boxed{" + text + "}", _latex_config(), parsing_timeout=None)


def _verify_in_helper(pred: str, gold: str) -> bool:
    """Parse and compare two normalised answers; runs inside the helper process."""
    # Imported here so that only the helper process pays for sympy.
    from math_verify import verify

    # The helper enforces the budget; math-verify's own signal-based timeout
    # is disabled and its reminder about that is noise.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    def same(p: str, g: str) -> bool:
        gold_parsed, pred_parsed = _parsed(g), _parsed(p)
        if not (gold_parsed and pred_parsed):
            return False
        return verify(gold_parsed, pred_parsed, timeout_seconds=None) or _same_solution_set(
            pred_parsed[0], gold_parsed[0]
        )

    if same(pred, gold):
        return True
    # A percentage also matches its bare number (5.5\\% == 5.5).
    pred_bare, gold_bare = _PERCENT.sub("", pred).rstrip(), _PERCENT.sub("", gold).rstrip()
    if (pred_bare != pred) != (gold_bare != gold) and pred_bare and gold_bare:
        return same(pred_bare, gold_bare)
    return False


def _same_solution_set(a: object, b: object) -> bool:
    """True when one side is an inequality in one variable and the other the set of reals it
    holds on: ``x \\geq 5`` and ``[5, \\infty)``, ``-2 < x < 3`` and ``(-2, 3)``."""
    from sympy import And, Or, Set
    from sympy.core.relational import Equality, Relational, Unequality

    def inequality(value: object) -> bool:
        return isinstance(value, Relational) and not isinstance(value, (Equality, Unequality))

    def solution_set(value: object) -> Set | None:
        parts = value.args if isinstance(value, (And, Or)) else (value,)
        if all(inequality(part) for part in parts) and len(value.free_symbols) == 1:
            return value.as_set()
        return None

    def as_set(value: object) -> Set | None:
        # "x \\in [-2, 7]" parses as Eq(x, Interval(-2, 7)).
        if isinstance(value, Equality) and isinstance(value.rhs, Set):
            value = value.rhs
        return value if isinstance(value, Set) else None

    for relation, other in ((a, b), (b, a)):
        if (target := as_set(other)) is not None and (found := solution_set(relation)) is not None:
            return bool(found == target)
    return False


@dataclass(frozen=True)
class GradeResult:
    """Outcome of grading one completion.

    ``extracted`` is the answer found in the completion (None if none was);
    ``exact_match`` means its normalised string equals the reference's;
    ``symbolic_match`` is the mathematical verdict (implied by ``exact_match``)
    and is the one to report as accuracy. ``status`` is one of ``STATUSES``:
    ``"timed out"`` and ``"failed"`` mean undecided (``symbolic_match`` is
    False but the answer may be right), which an evaluation counts apart.
    """

    extracted: str | None
    exact_match: bool
    symbolic_match: bool
    status: str


def grade(pred_text: str | None, gold_answer: str, dataset: str, timeout_s: float = DEFAULT_BUDGET_S) -> GradeResult:
    """Extract the final answer from a completion and compare it to ``gold_answer``.

    ``gold_answer`` is the reference final answer (GSM8K's ``#### n`` value,
    MATH's ``answer`` field, or the synthetic target), not a full solution.
    Synthetic answers are compared like the others, so ``0.50`` still
    matches ``0.5``; ``exact_match`` keeps the strict string verdict.
    """
    return grade_many([pred_text], [gold_answer], dataset, timeout_s=timeout_s)[0]


def grade_many(
    completions: Sequence[str | None],
    golds: Sequence[str],
    dataset: str,
    *,
    timeout_s: float = DEFAULT_BUDGET_S,
) -> list[GradeResult]:
    """``grade`` for every ``(completion, gold)`` pair, in order.

    Extraction, normalisation and the checks that need no parser run here;
    each distinct pair left is parsed and compared once, by the helper pool's
    processes in parallel, each under ``timeout_s`` CPU seconds.
    """
    if len(completions) != len(golds):
        raise ValueError(f"grade_many: {len(completions)} completions but {len(golds)} gold answers")
    extracted: list[str | None] = []
    pairs: list[tuple[str, str]] = []
    statuses: dict[tuple[str, str], str | None] = {}
    for i, (text, gold) in enumerate(zip(completions, golds)):
        text = _answer_text(text, f"completions[{i}]")
        if not isinstance(gold, str):
            raise TypeError(f"golds[{i}] must be a str, got {type(gold).__name__} {gold!r:.60}")
        answer = extract_answer(text, dataset) if text is not None else None
        pair = (_bounded_normal_form(answer or ""), _bounded_normal_form(gold))
        extracted.append(answer)
        pairs.append(pair)
        if pair not in statuses:
            statuses[pair] = _quick_status(*pair)
    undecided = [pair for pair, status in statuses.items() if status is None]
    if undecided:
        with ThreadPoolExecutor(max_workers=_HELPERS.size, thread_name_prefix="grading") as pool:
            statuses.update(zip(undecided, pool.map(lambda pair: _helper_status(pair, timeout_s), undecided)))
    return [
        GradeResult(
            extracted=answer,
            exact_match=bool(pred_norm) and pred_norm == gold_norm,
            symbolic_match=statuses[(pred_norm, gold_norm)] == "correct",
            status=statuses[(pred_norm, gold_norm)],
        )
        for answer, (pred_norm, gold_norm) in zip(extracted, pairs)
    ]
