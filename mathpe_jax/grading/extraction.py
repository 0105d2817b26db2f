"""Pull the final answer out of a model completion or a reference solution.

Each dataset marks its final answer differently: GSM8K solutions end in
``#### n``, MATH solutions put it in the last ``\\boxed{...}``, and synthetic
tasks are answered by the whole (short) completion. Models do not always follow
the format, so an unboxed answer is looked for where a reader would: after
"the answer is" / "Answer:", else in the last math expression of the final
sentence. Extraction is pure string scanning, linear in the text's length (no
parsing, nothing evaluated), so it is fast and cannot hang; deciding whether an
extracted answer is *right* is ``equivalence``'s job.
"""

from __future__ import annotations

import re

__all__ = ["DATASETS", "extract_answer", "final_boxed", "strip_math_delimiters"]

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
_HOPE_TAIL = re.compile(r"I hope it is correct\W*$", re.IGNORECASE)
# What may separate the boxes of one multi-part answer: "\boxed{1}, \boxed{2}", "$\boxed{1}$ and $\boxed{2}$".
# Not "or": "$\boxed{15\frac{39}{40}}$, or $\boxed{\frac{639}{40}}$" writes one answer twice.
_BOX_SEPARATOR = re.compile(r"(?:\s|[$,;]|\\[,;: ]|\\q?quad|\\[()\[\]]|\\text\s*\{\s*and\s*\}|and)*")
# Markdown emphasis around a stated answer ("**Answer:** 42").
_EMPHASIS = re.compile(r"\*\*|__")
# Inline and display math delimiters; "\$" is a dollar sign, not a delimiter.
_MATH_DELIMITER = re.compile(r"\$\$|(?<!\\)\$|\\\(|\\\)|\\\[|\\\]")
_CLOSING_DELIMITER = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_BRACKET_OPENERS = ("\\(", "\\[")
# Where the final sentence starts: after the last line break or sentence end.
_SENTENCE_BREAK = re.compile(r"\n|(?<=[.!?])\s+(?=\S)")
_PERCENT_AFTER = re.compile(r"\s*(?:\\?%|percent\b)", re.IGNORECASE)


def extract_answer(text: str, dataset: str) -> str | None:
    """Return the final answer written in ``text`` for ``dataset``, or None.

    - ``gsm8k``: the number after the last ``####``, else after the last
      "answer is", else in the last ``\\boxed{}``, else the last number in the
      text; commas and a leading ``$`` are removed (``1,450,000`` -> ``1450000``).
    - ``math``: the final boxed answer (``final_boxed``: the last complete
      ``\\boxed{...}``/``\\fbox{...}``, several adjacent boxes read as one list),
      else the text after the last "final answer is" / "answer is" / "Answer:",
      else the last math expression (``$...$``, ``\\(...\\)``, ``\\[...\\]``) of the
      final sentence, else that sentence's last number (``28 percent`` ->
      ``28\\%``), else the text's last math expression.
    - ``synthetic``: the whole text with surrounding whitespace removed.
    """
    if dataset == "gsm8k":
        return _extract_gsm8k(text)
    if dataset == "math":
        return _extract_math(text)
    if dataset == "synthetic":
        return text.strip() or None
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def final_boxed(text: str) -> str | None:
    """The final boxed answer: the last complete ``\\boxed{...}``/``\\fbox{...}``, joined with the
    boxes written right before it (``\\boxed{1}, \\boxed{2}`` -> ``1, 2``), or None.

    Boxes belong together when only commas, "and", spacing or math delimiters separate them,
    so a multi-part answer written as several boxes reads as the list or set it is, while a box
    corrected later in the text ("first \\boxed{1}, corrected: \\boxed{2}") still yields the last
    one. Braces are matched with a stack, ignoring escaped ``\\{``/``\\}`` (set braces). An
    unterminated or empty last box (a truncated completion) yields the last earlier complete one;
    ``\\boxed 5`` yields the token after the space. Linear in the length of ``text``.
    """
    boxes = _complete_boxes(text)
    if not boxes:
        return None
    start, _, content = boxes[-1]
    parts = [content]
    for prev_start, prev_end, prev_content in reversed(boxes[:-1]):
        if prev_end > start or not _BOX_SEPARATOR.fullmatch(text, prev_end, start):
            break
        parts.append(prev_content)
        start = prev_start
    return ", ".join(reversed(parts))


def _complete_boxes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of each complete, non-empty box, in order of its command."""
    boxes = []
    closing: dict[int, int] | None = None
    for command in _BOXED_COMMAND.finditer(text):
        pos = command.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith("{", pos):
            # "\boxed 5": the argument is the next whitespace-delimited token.
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            answer = text[pos:end].rstrip("$.,")
            if answer:
                boxes.append((command.start(), pos + len(answer), answer))
            continue
        if closing is None:
            closing = _matching_braces(text)
        if pos in closing and text[pos + 1 : closing[pos]].strip():
            boxes.append((command.start(), closing[pos] + 1, text[pos + 1 : closing[pos]].strip()))
    return boxes


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
    boxed = final_boxed(text)
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
            answer = _EMPHASIS.sub("", stated.group(1)).strip()
            spans = _math_spans(answer)
            if spans and spans[0][0] == 0:
                # "$\\frac{3}{4}$, since ...": the expression, not the sentence around it.
                return spans[0][2]
            answer = strip_math_delimiters(_ANSWER_TAIL.sub("", answer))
            if answer:
                return answer
    return None


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of each complete, non-empty math span, in order (one linear pass;
    ``start`` is the opening delimiter's position, ``end`` the closing one's end)."""
    spans = []
    opened: tuple[str, int, int] | None = None
    for token in _MATH_DELIMITER.finditer(text):
        delimiter = token.group()
        if opened is None or delimiter in _BRACKET_OPENERS:
            # A "\\[" or "\\(" inside an open span means that span was never closed: start again.
            if delimiter in _CLOSING_DELIMITER:
                opened = (delimiter, token.start(), token.end())
        elif delimiter == _CLOSING_DELIMITER[opened[0]]:
            content = text[opened[2] : token.start()].strip()
            if content:
                spans.append((opened[1], token.end(), content))
            opened = None
    return spans


def _final_statement(text: str) -> str | None:
    """The answer in the final sentence: its last math expression, else its last number (with
    "percent" kept as ``\\%``); failing both, the last math expression of the whole text."""
    body = _HOPE_TAIL.sub("", text).rstrip()
    start = max((m.end() for m in _SENTENCE_BREAK.finditer(body)), default=0)
    spans = _math_spans(body)
    final = [content for _, end, content in spans if end > start]
    if final:
        return final[-1]
    numbers = list(_NUMBER.finditer(body, start))
    if numbers:
        number = _clean_number(numbers[-1].group())
        return number + "\\%" if _PERCENT_AFTER.match(body, numbers[-1].end()) else number
    return spans[-1][2] if spans else None


def _extract_math(text: str) -> str | None:
    boxed = final_boxed(text)
    if boxed is not None:
        return boxed
    return _stated_answer(text) or _final_statement(text)
