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
   ``math_verify.verify``, in a helper process under a hard timeout
   (``run_with_timeout``). Timeouts and parse errors count as a mismatch.

Conventions (math-verify's unless stated):

- Floats: when one side is a float literal, both sides are rounded to 6
  decimal places, so ``0.333333`` matches ``\\frac{1}{3}`` but ``0.333`` and
  ``0.33`` do not; there is no relative tolerance. Two exact values
  (integers, fractions, radicals) must be exactly equal.
- Percent: ``50\\%`` matches ``50`` and ``0.5``/``\\frac{1}{2}``. Additionally
  (this module), a percentage always matches its bare number, so ``5.5\\%``
  matches ``5.5`` as well as ``0.055``.
- ``1,000`` and ``1 000`` are one thousand (a whole answer grouped in threes by
  commas, spaces or ``\\,``); ``1,2`` is the list/set {1, 2}.
- Units and currency are dropped only when clearly not mathematics: a
  trailing ``\\text{...}``/``\\mbox{...}``/``\\mathrm{...}`` word (one letter
  only right after a digit), plain words after a number and a space
  (``5 cm``, ``12\\text{ inches}``, ``6\\pi\\text{ cm}^2``), a leading ``\\$``.
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
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

from mathpe_jax.grading.extraction import extract_answer, last_boxed, strip_math_delimiters
from mathpe_jax.grading.timeout import run_with_timeout

__all__ = ["GradeResult", "answers_match", "grade", "normalize_answer"]

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
# Not after a backslash: "\\\\ " is a matrix row break followed by a space.
_SPACING_COMMANDS = re.compile(r"(?<!\\)\\(?:[,;:! ]|q?quad(?![a-zA-Z]))")
# The whole answer is one number grouped by commas or spaces ("1,450,000", "2 500").
_THOUSANDS_NUMBER = re.compile(r"-?\d{1,3}([, ])\d{3}(?:\1\d{3})*(?:\.\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")
# A trailing unit: "\text{ cm}^2", "\mbox{inches}", or plain words after a
# number ("5 apples"), but never math words such as "4 pi" or "25 percent".
_TEXT_UNIT = re.compile(
    r"\\(?:text|textrm|mbox|mathrm)\s*\{([A-Za-z .]*[A-Za-z][A-Za-z .]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$"
)
_WORD_UNIT = re.compile(
    r"(?<=\d)\s+(?!(?:pi|sqrt|inf|infty|infinity|percent|percentage|pct)\b)[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?\s*$"
)
_TEXT_NUMBER_WORDS = re.compile(r"\\(?:text|textrm|mbox)\s*\{\s*(-?[\d,.]+)\s+[A-Za-z][A-Za-z .]*\}")
_CURRENCY = re.compile(r"^(-?)\\?\$\s*(?=[\d.])")
_TRAILING_PERIOD = re.compile(r"(?<![.\\])\.$")
_PERCENT = re.compile(r"\s*(?:\\?%|\\text\s*\{\s*(?:percent|\\%)\s*\}|percent)\s*$")
_WHITESPACE = re.compile(r"\s+")


def normalize_answer(answer: str) -> str:
    """Remove notation that never changes a final answer's value.

    Applied to both sides before comparison; idempotent. It only strips
    presentation (delimiters, box, sizing commands, thousands separators,
    units, currency signs, spacing), never rewrites mathematics.
    """
    text = answer.strip()
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    for _ in range(2):  # e.g. "$\\boxed{...}$" or "\\[ $...$ \\]"
        text = strip_math_delimiters(text)
    text = _LEFT_RIGHT.sub("", text)
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _FRAC_COMMAND_NUMERATOR.sub(r"\\frac{\1}", text)
    text = _FRAC_TOKEN_DENOMINATOR.sub(r"\1{\2}", text)
    text = text.replace("\\displaystyle", "")
    text = _THOUSANDS_SPACING.sub("", text)
    text = _SPACING_COMMANDS.sub(" ", text)
    text = _TEXT_NUMBER_WORDS.sub(r"\1", text)
    text = _CURRENCY.sub(r"\1", text)
    text = _TRAILING_PERIOD.sub("", text.strip())
    text = _strip_unit(text)
    if _THOUSANDS_NUMBER.fullmatch(text):
        text = text.replace(",", "").replace(" ", "")
    return _WHITESPACE.sub(" ", text).strip()


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
        if head and head[-1] not in "^_" and (head[-1].isdigit() or len(word) > 1):
            return head
    match = _WORD_UNIT.search(text)
    if match and match.start() > 0:
        return text[: match.start()].rstrip()
    return text


def answers_match(pred: str, gold: str, timeout_s: float = 5.0) -> bool:
    """True if the final answers ``pred`` and ``gold`` are mathematically equal.

    Both are final-answer strings (LaTeX or plain text, with or without
    ``$...$``), not whole solutions. See the module docstring for the
    conventions. Returns False for empty input, when parsing fails, or when
    parsing and comparison together take longer than ``timeout_s`` seconds.
    """
    pred_norm, gold_norm = normalize_answer(pred), normalize_answer(gold)
    if not pred_norm or not gold_norm:
        return False
    if pred_norm == gold_norm:
        return True
    if len(pred_norm) > MAX_ANSWER_CHARS or len(gold_norm) > MAX_ANSWER_CHARS:
        return False
    if _INTEGER.fullmatch(pred_norm) and _INTEGER.fullmatch(gold_norm):
        return int(pred_norm) == int(gold_norm)
    return bool(run_with_timeout(_verify_in_helper, pred_norm, gold_norm, timeout_s=timeout_s, default=False))


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


def _verify_in_helper(pred: str, gold: str) -> bool:
    """Parse and compare two normalised answers; runs inside the helper process."""
    # Imported here so that only the helper process pays for sympy.
    from math_verify import parse, verify

    # The helper enforces the timeout; math-verify's own signal-based timeout
    # is disabled and its reminder about that is noise.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    config = _latex_config()

    def parsed(text: str) -> list:
        return parse("\\boxed{" + text + "}", config, parsing_timeout=None)

    def same(p: str, g: str) -> bool:
        gold_parsed, pred_parsed = parsed(g), parsed(p)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=None))

    if same(pred, gold):
        return True
    # A percentage also matches its bare number (5.5\% == 5.5).
    pred_bare, gold_bare = _PERCENT.sub("", pred), _PERCENT.sub("", gold)
    if (pred_bare != pred) != (gold_bare != gold) and pred_bare and gold_bare:
        return same(pred_bare, gold_bare)
    return False


@dataclass(frozen=True)
class GradeResult:
    """Outcome of grading one completion.

    ``extracted`` is the answer found in the completion (None if none was);
    ``exact_match`` means its normalised string equals the reference's;
    ``symbolic_match`` is the full ``answers_match`` verdict (implied by
    ``exact_match``) and is the one to report as accuracy.
    """

    extracted: str | None
    exact_match: bool
    symbolic_match: bool


def grade(pred_text: str, gold_answer: str, dataset: str, timeout_s: float = 5.0) -> GradeResult:
    """Extract the final answer from a completion and compare it to ``gold_answer``.

    ``gold_answer`` is the reference final answer (GSM8K's ``#### n`` value,
    MATH's ``answer`` field, or the synthetic target), not a full solution.
    Synthetic answers are compared like the others, so ``0.50`` still
    matches ``0.5``; ``exact_match`` keeps the strict string verdict.
    """
    extracted = extract_answer(pred_text, dataset)
    if extracted is None:
        return GradeResult(extracted=None, exact_match=False, symbolic_match=False)
    normalized = normalize_answer(extracted)
    exact = bool(normalized) and normalized == normalize_answer(gold_answer)
    symbolic = exact or answers_match(extracted, gold_answer, timeout_s=timeout_s)
    return GradeResult(extracted=extracted, exact_match=exact, symbolic_match=symbolic)
