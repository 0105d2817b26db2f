"""Pull the final answer out of a model completion or a reference solution.

Each dataset marks its final answer differently: GSM8K solutions end in
``#### n``, MATH solutions put it in the last ``\\boxed{...}``, and synthetic
tasks are answered by the whole (short) completion. Extraction is pure string
scanning (no parsing of the answer itself), so it is fast and cannot hang;
deciding whether an extracted answer is *right* is ``grading``'s job.
"""

from __future__ import annotations

import re

__all__ = ["DATASETS", "extract_answer", "last_boxed", "strip_math_delimiters"]

DATASETS = ("gsm8k", "math", "synthetic")

# A number as written in GSM8K text: optional sign and currency, comma
# thousands groups (1,450,000) or plain digits, optional decimals. A comma not
# followed by exactly three digits ends the number, so "1,2" is two numbers.
_NUMBER = re.compile(r"(?<![\w.])-?\$?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)")
_GSM8K_MARKER = re.compile(r"####\s*(.*)")
# The leading "(?s:.*)" makes a match start at the LAST phrase occurrence
# ("Final Answer: The final answer is 12").
_ANSWER_IS = re.compile(r"(?s:.*)answer\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_FINAL_ANSWER_IS = re.compile(r"(?s:.*)final\s+answer\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_BOXED_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
# Boilerplate after a stated answer, e.g. "$5$. I hope it is correct."
_ANSWER_TAIL = re.compile(r"\s*(?:\.\s*I hope it is correct.*|[.。]\s*$)", re.IGNORECASE | re.DOTALL)


def extract_answer(text: str, dataset: str) -> str | None:
    """Return the final answer written in ``text`` for ``dataset``, or None.

    - ``gsm8k``: the number after the last ``####``, else after the last
      "answer is", else in the last ``\\boxed{}``, else the last number in the
      text; commas and a leading ``$`` are removed (``1,450,000`` -> ``1450000``).
    - ``math``: the content of the last complete ``\\boxed{...}`` or
      ``\\fbox{...}`` (nested braces matched; ``\\boxed 5`` form too), else the
      text after the last "final answer is" / "answer is".
    - ``synthetic``: the whole text with surrounding whitespace removed.
    """
    if dataset == "gsm8k":
        return _extract_gsm8k(text)
    if dataset == "math":
        return _extract_math(text)
    if dataset == "synthetic":
        return text.strip() or None
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}``/``\\fbox{...}``, or None.

    Braces are matched with a stack, ignoring escaped ``\\{``/``\\}`` (set
    braces), so ``\\boxed{\\{1, 2\\}}`` and ``\\boxed{\\frac{a}{b}}`` both work.
    An unterminated or empty last box (a truncated completion) yields the
    last earlier complete one. ``\\boxed 5`` yields the token after the space.
    Linear in the length of ``text``.
    """
    closing: dict[int, int] | None = None
    for command in reversed(list(_BOXED_COMMAND.finditer(text))):
        pos = command.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith("{", pos):
            # "\boxed 5": the argument is the next whitespace-delimited token.
            token = text[pos:].split(maxsplit=1)
            answer = token[0].rstrip("$.,") if token else ""
            if answer:
                return answer
            continue
        if closing is None:
            closing = _matching_braces(text)
        if pos in closing and text[pos + 1 : closing[pos]].strip():
            return text[pos + 1 : closing[pos]].strip()
    return None


def _matching_braces(text: str) -> dict[int, int]:
    """Map each balanced ``{`` position to its ``}``, skipping escaped braces."""
    pairs: dict[int, int] = {}
    opened: list[int] = []
    for i, char in enumerate(text):
        if char not in "{}" or (i > 0 and text[i - 1] == "\\"):
            continue
        if char == "{":
            opened.append(i)
        elif opened:
            pairs[opened.pop()] = i
    return pairs


def _clean_number(raw: str) -> str:
    return raw.replace(",", "").replace("$", "")


def _first_number(text: str) -> str | None:
    match = _NUMBER.search(text)
    return _clean_number(match.group()) if match else None


def _last_number(text: str) -> str | None:
    numbers = _NUMBER.findall(text)
    return _clean_number(numbers[-1]) if numbers else None


def _extract_gsm8k(text: str) -> str | None:
    markers = _GSM8K_MARKER.findall(text)
    if markers:
        number = _first_number(markers[-1])
        if number is not None:
            return number
    stated = _ANSWER_IS.match(text)
    if stated:
        number = _first_number(stated.group(1))
        if number is not None:
            return number
    boxed = last_boxed(text)
    if boxed is not None:
        number = _first_number(boxed)
        if number is not None:
            return number
    return _last_number(text)


def strip_math_delimiters(answer: str) -> str:
    """Remove one pair of enclosing ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]``."""
    answer = answer.strip()
    for left, right in _MATH_DELIMITERS:
        if answer.startswith(left) and answer.endswith(right) and len(answer) >= len(left) + len(right):
            return answer[len(left) : len(answer) - len(right)].strip()
    return answer


def _stated_answer(text: str) -> str | None:
    for pattern in (_FINAL_ANSWER_IS, _ANSWER_IS):
        stated = pattern.match(text)
        if stated:
            answer = _ANSWER_TAIL.sub("", stated.group(1))
            answer = strip_math_delimiters(answer)
            if answer:
                return answer
    return None


def _extract_math(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    return _stated_answer(text)
