"""Step-level metrics on a worked solution: are the intermediate sums right?

Final-answer accuracy cannot tell a model that miscalculates from one that
calculates correctly along a wrong plan. This module finds the arithmetic a
completion writes down (``16 - 3 - 4 = 9``, GSM8K calculator annotations
``<<48/2=24>>``), recomputes each with exact ``fractions.Fraction``
arithmetic, and classifies failures accordingly.

Arithmetic is read by a small tokenizer and recursive-descent parser that
know only numbers, ``+ - * / x × ÷``, parentheses and ``%``; model text is
never evaluated as code.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "ERROR_CLASSES",
    "EquationCheck",
    "StepEquation",
    "check_equations",
    "classify_error",
    "evaluate_arithmetic",
    "split_steps",
]

ERROR_CLASSES = ("correct", "ungraded", "no_answer", "truncated", "calculation_error", "reasoning_error")

# A number as written in a solution: optional "$", comma thousands groups or
# plain digits, optional decimals, optional "%" (meaning /100).
_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)%?"
_OPS = "-+*/×÷x–−"
# "x" is multiplication only before a number ("60 questions x 40/100"), not
# in algebra ("4x-13").
_OP = r"(?:[-+*/×÷–−]|x(?=\s*[\d($.]))"
# Every space belongs to exactly one sub-pattern and repetitions are
# possessive, so matching is linear in the text length (no backtracking
# blow-up on long sums such as "2 * $100 + 1 * $50 + ... bills").
_ATOM = rf"(?>(?:\(\s*)*(?:-\s*)?{_NUM}(?:\s*\))*)"
_TERM = rf"{_ATOM}(?:\s*{_OP}\s*{_ATOM})*+"
# A chain "t1 = t2 (= t3)*" of arithmetic terms in running text. It may not
# start right after a word, number, operator or ")" (implicit products), nor
# end before a word, another number or an operator, so that fragments of
# algebra ("3x + 4 - 4 = 28"), mixed numbers ("3 1/2") and space-grouped
# thousands ("$350 000") are not misread.
_CHAIN = re.compile(
    rf"(?<![\w.,$()])(?<!\d\s)(?<![-+*/×÷x–−^)])(?<![-+*/×÷x–−^)]\s)"
    rf"{_TERM}(?:\s*=\s*{_TERM})++(?!\.?\w)(?!\s\d)(?!\s*[-+*/×÷–−^])"
)
# A GSM8K calculator annotation "<<lhs=rhs>>"; shared with the robustness perturbations.
CALCULATOR_ANNOTATION = re.compile(r"<<(?P<lhs>[^<>=]*)=(?P<rhs>[^<>=]*)>>")
_TOKEN = re.compile(rf"\s*(?:(?P<num>{_NUM})|(?P<op>[{_OPS}()]))")
_HAS_OPERATOR = re.compile(rf"\d\s*\)*\s*[{_OPS}]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z$\d])")
_DECIMALS = re.compile(r"\.(\d+)")


def split_steps(text: str) -> list[str]:
    """Split a solution into steps: one per non-empty line, and per sentence within a line.

    Sentences end at ``.``, ``!`` or ``?`` followed by whitespace and a
    capital letter, digit or ``$``, so decimals like ``3.5`` stay intact.
    """
    steps: list[str] = []
    for line in text.splitlines():
        steps.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return steps


def _parse_number(token: str) -> Fraction:
    value = Fraction(token.replace(",", "").replace("$", "").rstrip("%"))
    return value / 100 if token.endswith("%") else value


def evaluate_arithmetic(expr: str) -> Fraction | None:
    """Exact value of an arithmetic expression, or None if it is not one.

    Grammar: numbers (``1,450``, ``$3.50``, ``.5``, ``20%``), binary
    ``+ - * / x × ÷`` with the usual precedence, unary minus, parentheses.
    Division by zero and anything else (letters, ``**``) give None.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            return None
        tokens.append(("num", match["num"]) if match["num"] else ("op", match["op"]))
        pos = match.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    parser = _Parser(tokens)
    try:
        value = parser.expression()
    except (ValueError, ZeroDivisionError, IndexError, RecursionError):
        return None
    return value if parser.done() else None


class _Parser:
    """Recursive descent over tokens: expr := term (('+'|'-') term)*, term := factor (('*'|'/') factor)*."""

    _MUL = frozenset("*×x")
    _DIV = frozenset("/÷")
    _MINUS = frozenset("-–−")

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._pos = 0

    def done(self) -> bool:
        return self._pos == len(self._tokens)

    def _peek(self) -> str | None:
        if self._pos < len(self._tokens) and self._tokens[self._pos][0] == "op":
            return self._tokens[self._pos][1]
        return None

    def expression(self) -> Fraction:
        value = self._term()
        while (op := self._peek()) is not None and (op == "+" or op in self._MINUS):
            self._pos += 1
            value = value + self._term() if op == "+" else value - self._term()
        return value

    def _term(self) -> Fraction:
        value = self._factor()
        while (op := self._peek()) is not None and (op in self._MUL or op in self._DIV):
            self._pos += 1
            value = value * self._factor() if op in self._MUL else value / self._factor()
        return value

    def _factor(self) -> Fraction:
        kind, text = self._tokens[self._pos]
        self._pos += 1
        if kind == "num":
            return _parse_number(text)
        if text in self._MINUS:
            return -self._factor()
        if text == "(":
            value = self.expression()
            if self._peek() != ")":
                raise ValueError("unbalanced parenthesis")
            self._pos += 1
            return value
        raise ValueError(f"unexpected operator {text!r}")


def _sides_agree(left: Fraction, right: Fraction, right_text: str) -> bool:
    """Whether ``left = right_text`` is a correct claim.

    Exact, except that a plain decimal on the right may be rounded or
    truncated (``10/3 = 3.33``, ``2/3 = 0.66``: within one unit of its last
    decimal place), and a right side written as a percentage may mean either
    its value or its number (``18/450 x 100 = 4%``).
    """
    if left == right:
        return True
    right_text = right_text.strip()
    if right_text.endswith("%") and left == right * 100:
        return True
    decimals = _DECIMALS.search(right_text)
    if decimals is None or _HAS_OPERATOR.search(right_text):
        return False
    unit = Fraction(1, 10 ** len(decimals.group(1)))
    if right_text.endswith("%"):
        return abs(left - right) < unit / 100 or abs(left - right * 100) < unit
    return abs(left - right) < unit


@dataclass(frozen=True)
class StepEquation:
    """One arithmetic claim found in a solution and its verdict."""

    step: int  # index into split_steps(text)
    text: str
    correct: bool


@dataclass(frozen=True)
class EquationCheck:
    """Arithmetic audit of one solution.

    ``fraction_correct`` is None when no equation was found (nothing to
    audit, as opposed to everything wrong); ``first_wrong_step`` indexes
    ``split_steps(text)`` and is None when no equation is wrong.
    """

    n_steps: int
    equations: tuple[StepEquation, ...]
    fraction_correct: float | None
    first_wrong_step: int | None

    @property
    def n_equations(self) -> int:
        return len(self.equations)


def _continues(left: Fraction, right_text: str) -> bool:
    """Whether ``right_text`` carries on from ``left``: "2 * 3 = 6 * 2 = 12" means 2*3 = 6, then 6*2 = 12."""
    leading = _TOKEN.match(right_text)
    return (
        leading is not None
        and leading["num"] is not None
        and _HAS_OPERATOR.search(right_text, leading.end() - 1) is not None
        and _parse_number(leading["num"]) == left
    )


def _canonical(left: str, right: str) -> str:
    return re.sub(r"[\s$,]", "", f"{left}={right}")


def _claims(step: str) -> list[tuple[str, str]]:
    """(left, right) pairs claimed equal in one step: annotations, then visible chains."""
    pairs = [(m["lhs"], m["rhs"]) for m in CALCULATOR_ANNOTATION.finditer(step)]
    for chain in _CHAIN.finditer(CALCULATOR_ANNOTATION.sub(" ", step)):
        terms = chain.group().split("=")
        pairs.extend(itertools.pairwise(terms))
    return pairs


def check_equations(text: str) -> EquationCheck:
    """Find and recheck every ``a op b = c`` (chains too) and ``<<a op b=c>>`` in ``text``.

    Each adjacent pair of a chain ``a = b = c`` is one equation, right if the
    sides are equal or if ``b`` carries on from ``a``'s value
    (``2 * 3 = 6 * 2 = 12``). A pair with no operator on either side
    (``5 = 5``) claims nothing and is skipped, as are sides that do not parse
    as arithmetic. An annotation and the visible equation it decorates
    (``2+1=<<2+1=3>>3``) count once.
    """
    steps = split_steps(text)
    found: list[StepEquation] = []
    for index, step in enumerate(steps):
        seen: set[str] = set()
        for left, right in _claims(step):
            key = _canonical(left, right)
            if key in seen or not (_HAS_OPERATOR.search(left) or _HAS_OPERATOR.search(right)):
                continue
            left_value, right_value = evaluate_arithmetic(left), evaluate_arithmetic(right)
            if left_value is None or right_value is None:
                continue
            seen.add(key)
            correct = _sides_agree(left_value, right_value, right) or _continues(left_value, right)
            found.append(StepEquation(step=index, text=f"{left.strip()} = {right.strip()}", correct=correct))
    n_correct = sum(eq.correct for eq in found)
    first_wrong = next((eq.step for eq in found if not eq.correct), None)
    return EquationCheck(
        n_steps=len(steps),
        equations=tuple(found),
        fraction_correct=n_correct / len(found) if found else None,
        first_wrong_step=first_wrong,
    )


def classify_error(
    completion: str,
    pred_answer: str | None,
    gold: str,
    correct: bool,
    truncated: bool = False,
    undecided: bool = False,
) -> str:
    """Label one graded completion with one of ``ERROR_CLASSES``.

    Checked in order: ``correct``; ``ungraded`` (``undecided``: the grader ran
    out of budget, so the answer may be right); ``truncated`` (generation hit the length
    limit, so the failure says nothing about reasoning); ``no_answer`` (no
    final answer extracted); ``calculation_error`` (some written equation is
    arithmetically wrong); otherwise ``reasoning_error`` (every written step
    checks out, yet the answer is wrong). ``correct`` is the grader's verdict on
    ``pred_answer`` against ``gold``.
    """
    if correct:
        return "correct"
    if undecided:
        return "ungraded"
    if truncated:
        return "truncated"
    if not pred_answer:
        return "no_answer"
    if check_equations(completion).first_wrong_step is not None:
        return "calculation_error"
    return "reasoning_error"
