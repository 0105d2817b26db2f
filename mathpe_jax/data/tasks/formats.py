"""How the two-operand tasks write their numbers: index hints, zero padding, random spaces.

Each option changes the text of an example, never the problem drawn, so a run with an option sees
the same sums as one without it:

* index hints (Zhou et al. 2023, "What Algorithms Can Transformers Learn?"; Zhou et al. 2024,
  "Transformers Can Achieve Length Generalization But Not Robustly"): every digit follows a hint
  letter naming its place (``HINTS[k]`` for the digit of ``10**k``), so digits of the same
  significance carry the same hint in both operands and the answer, and a model can align them by
  content instead of by position;
* zero padding: operands written with leading zeros to the same number of digits and the answer
  to its largest possible width, so digits of the same significance also sit at the same offset;
* random spaces (Shen et al. 2023, "Positional Description Matters for Transformers Arithmetic"):
  training prompts get a space in each gap between two characters with some probability, so the
  model cannot rely on absolute positions. Training only: test sets stay without spaces.
* spaces around numbers: training prompts get a random run of spaces before and after each number,
  never inside one, so a number keeps its digits together (and Abacus its places) while every
  token after it moves; short problems then fill the token positions that long test problems
  reach. Training only, as random spaces.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The hint of place ``k`` (the digit of ``10**k``): lowercase then uppercase letters, 52 places.
HINTS = string.ascii_lowercase + string.ascii_uppercase
_NO_HINTS = str.maketrans("", "", HINTS)
#: One character that is not part of a number (digits and hint letters are): a sign or a space.
_SIGN = re.compile(r"([^0-9A-Za-z])")


@dataclasses.dataclass(frozen=True)
class NumberFormat:
    """How one number is written, apart from its digit order (``task.reverse``): with a hint
    before each digit (``task.index_hints``) and with leading zeros up to a width
    (``task.zero_pad``). The default writes ``str(n)``, as the tasks always have."""

    index_hints: bool = False
    zero_pad: bool = False

    @classmethod
    def from_config(cls, task_cfg: Mapping[str, Any]) -> NumberFormat:
        """The format a ``config.task`` block asks for (configs saved before the keys read False)."""
        return cls(bool(task_cfg.get("index_hints", False)), bool(task_cfg.get("zero_pad", False)))

    def write(self, n: int, width: int, reverse: bool) -> str:
        """``n`` (zero-padded to ``width`` digits when padding), least-significant digit first when
        ``reverse``; with hints each digit follows the hint of its place, so place 0 comes first
        when reversed and last otherwise."""
        digits = str(n).zfill(width) if self.zero_pad else str(n)
        places = [(HINTS[k] if self.index_hints else "") + d for k, d in enumerate(reversed(digits))]
        return "".join(places if reverse else places[::-1])

    def chars(self, digits: int) -> int:
        """How many characters ``digits`` digits take: twice as many with hints."""
        return 2 * digits if self.index_hints else digits

    def plain(self, text: str) -> str:
        """``text`` without hint letters, so the numbers of a hinted completion can be read."""
        return text.translate(_NO_HINTS) if self.index_hints else text


#: Numbers as the tasks have always written them.
PLAIN = NumberFormat()


def with_spaces(text: str, rng: np.random.Generator, probability: float) -> str:
    """``text`` with a space in each gap between two of its characters, each drawn from ``rng``
    with ``probability`` (Shen et al. 2023); ``rng`` is the training batch's own, so a batch stays
    a function of (seed, step)."""
    gaps = rng.random(len(text) - 1) < probability
    return text[:1] + "".join(" " * bool(gap) + ch for gap, ch in zip(gaps, text[1:], strict=True))


def with_spaces_around_numbers(text: str, rng: np.random.Generator, most: int) -> str:
    """``text`` with ``0..most`` spaces (each count drawn from ``rng``) in every gap that touches a
    sign, and before the first and after the last character: ``12+345=`` has five such gaps. The
    digits of a number stay adjacent."""
    pieces = [piece for piece in _SIGN.split(text) if piece]  # numbers and single signs, in order
    counts = rng.integers(0, most + 1, size=len(pieces) + 1)
    return "".join(" " * int(n) + piece for n, piece in zip(counts, pieces)) + " " * int(counts[-1])


def gaps_around_numbers(text_length: int, spaced: bool) -> int:
    """The most gaps :func:`with_spaces_around_numbers` fills in a two-operand prompt of
    ``text_length`` characters: five (``a+b=``), or one per character and one more when random
    spaces may already have split it into single characters."""
    return text_length + 1 if spaced else 5
