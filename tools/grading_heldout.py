"""Score answer graders on held-out, human-labelled gold/prediction pairs.

The unit tests of ``mathpe_jax.grading`` were written next to the grader and
so tend to agree with it. The files in ``tests/grading/data/heldout_*.jsonl``
were labelled by hand, by mathematical correctness alone, without running any
grader. This script reports how many of their lines each grader gets right
(its verdict equals ``expected``): the project grader, and plain math-verify
with its default configuration as a point of comparison. That default also
reads plain expressions with ``sympy.parse_expr``, which evaluates Python, so
point ``--answers``/``--completions`` only at files you trust.

    python tools/grading_heldout.py [--show-misses] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from math_verify import parse, verify

from mathpe_jax.grading.equivalence import answers_match, grade

DATA = Path(__file__).resolve().parent.parent / "tests" / "grading" / "data"
ANSWERS = DATA / "heldout_answers.jsonl"
COMPLETIONS = DATA / "heldout_completions.jsonl"

Grader = Callable[[dict], bool]


def _math_verify(gold_text: str, pred_text: str) -> bool:
    return bool(verify(parse(gold_text), parse(pred_text)))


def _mv_answer(row: dict) -> bool:
    pred = row["pred"] if "\\boxed" in row["pred"] else f"${row['pred']}$"
    return _math_verify(f"${row['gold']}$", pred)


GRADERS: dict[str, dict[str, Grader]] = {
    "answers": {
        "project": lambda row: answers_match(row["pred"], row["gold"]),
        "math-verify": _mv_answer,
    },
    "completions": {
        "project": lambda row: grade(row["completion"], row["gold"], row["dataset"]).symbolic_match,
        "math-verify": lambda row: _math_verify(f"${row['gold']}$", row["completion"]),
    },
}


def _verdict(grader: Grader, row: dict) -> bool | None:
    """The grader's verdict, or None if it raised."""
    try:
        return grader(row)
    except Exception:  # noqa: BLE001 - any failure counts as a wrong verdict
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=Path, default=ANSWERS)
    parser.add_argument("--completions", type=Path, default=COMPLETIONS)
    parser.add_argument("--show-misses", action="store_true", help="print the lines each grader gets wrong")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the counts to this JSON file")
    args = parser.parse_args()

    counts: dict[str, dict[str, int]] = {}
    for name, path in (("answers", args.answers), ("completions", args.completions)):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        counts[name] = {"lines": len(rows)}
        for grader_name, grader in GRADERS[name].items():
            misses = []
            for i, row in enumerate(rows, 1):
                verdict = _verdict(grader, row)
                if verdict != row["expected"]:
                    misses.append((i, row, verdict))
            counts[name][grader_name] = len(rows) - len(misses)
            print(f"{name}: {grader_name} {len(rows) - len(misses)}/{len(rows)} right")
            if args.show_misses:
                for i, row, verdict in misses:
                    shown = {k: v for k, v in row.items() if k not in ("expected", "note")}
                    print(f"  line {i}: expected {row['expected']}, got {verdict} ({row['note']}): "
                          f"{json.dumps(shown, ensure_ascii=False)[:300]}")
    if args.json:
        args.json.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
