"""Verdicts do not depend on how busy the machine is: 16 threads grade ordinary pairs while CPU-bound
processes compete for the cores, on fresh helpers started under that load (empty caches), and every
verdict equals the one reached on a quiet machine, with no call past its budget plus a second."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mathpe_jax.grading.equivalence import compare_answers, fresh_helpers, grade_many

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # CPU-bound processes compete with the helpers

# Ordinary answers that need the parser (not identical once normalised, not two integers).
PAIRS = [
    ("\\frac{1}{2}", "0.5"),
    ("x+1", "1+x"),
    ("2\\sqrt{3}", "\\sqrt{12}"),
    ("\\frac{\\pi}{3}", "60^\\circ"),
    ("(1,2)", "(2,1)"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("0.75", "\\frac34"),
    ("x^2-1", "(x-1)(x+1)"),
    ("[2,5)", "[2,5]"),
    ("\\frac{3}{4}", "0.7"),
    ("50\\%", "\\frac{1}{2}"),
    ("3+4i", "4i+3"),
    ("\\sqrt{2}/2", "\\frac{1}{\\sqrt2}"),
    ("y=2x+1", "y=1+2x"),
    ("2^{10}", "1024"),
    ("x \\geq 5", "[5,\\infty)"),
]
BUDGET_S = 5.0  # the default, as in evaluation


def test_sixteen_threads_under_cpu_load_reach_the_quiet_verdicts() -> None:
    pairs = PAIRS * 6  # 96 calls
    quiet = [compare_answers(*pair, timeout_s=BUDGET_S) for pair in PAIRS]
    assert set(quiet) == {"correct", "wrong"}
    with _loaded(), ThreadPoolExecutor(max_workers=16) as threads:
        loaded = list(threads.map(lambda pair: compare_answers(*pair, timeout_s=BUDGET_S), pairs))
    assert loaded == quiet * 6


def test_a_tight_budget_is_enough_for_an_ordinary_pair_under_load() -> None:
    with _loaded():
        assert [compare_answers("\\frac{1}{2}", "0.5", timeout_s=0.4) for _ in range(20)] == ["correct"] * 20


def test_grade_many_under_load_matches_the_quiet_verdicts() -> None:
    completions = [f"So the answer is $\\boxed{{{pred}}}$." for pred, _ in PAIRS] * 4
    golds = [gold for _, gold in PAIRS] * 4
    quiet = grade_many(completions, golds, "math", timeout_s=BUDGET_S)
    with _loaded():
        loaded = grade_many(completions, golds, "math", timeout_s=BUDGET_S)
    assert loaded == quiet
    assert {r.status for r in quiet} == {"correct", "wrong"}


@contextlib.contextmanager
def _loaded() -> Iterator[None]:
    """Two CPU-bound processes, and fresh grading helpers started (and ready) under their load."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        with fresh_helpers():
            yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
