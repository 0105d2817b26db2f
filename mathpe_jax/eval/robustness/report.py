"""GSM8K robustness: the evaluated problems again, with new numbers, a distractor, or reworded.

Each variant is built from the same evaluated subset (``perturb``), and its accuracy is compared
with the original accuracy on exactly the problems the variant covers: ``perturb_numbers`` declines
problems whose solution cannot be replayed safely, so its subset can be smaller. Every perturbation
draws from a ``random.Random`` seeded by the run seed, the variant and the problem id (string seeds
are hashed with SHA-512, not Python's salted ``hash``), so a variant of a problem is the same
whatever else is evaluated.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

from mathpe_jax.data.math_datasets import MathProblem
from mathpe_jax.eval.metrics import accuracy
from mathpe_jax.eval.robustness.perturb import add_irrelevant_sentence, perturb_numbers, rephrase
from mathpe_jax.grading.prediction import Prediction

__all__ = ["VARIANTS", "Variant", "make_variants", "robustness_report"]

VARIANTS = ("perturbed_numbers", "irrelevant_sentence", "rephrased")


@dataclasses.dataclass(frozen=True)
class Variant:
    """A changed question of the problem at ``index`` of the evaluated subset, and its answer."""

    index: int
    question: str
    gold: str


def _rng(seed: int, variant: str, problem_id: str) -> random.Random:
    return random.Random(f"{seed}/{variant}/{problem_id}")


def make_variants(problems: Sequence[MathProblem], seed: int) -> dict[str, list[Variant]]:
    """``{variant: [Variant, ...]}`` for ``VARIANTS``; problems ``perturb_numbers`` declines are left out."""
    out: dict[str, list[Variant]] = {name: [] for name in VARIANTS}
    for index, problem in enumerate(problems):
        perturbed = perturb_numbers(problem.question, problem.solution, _rng(seed, VARIANTS[0], problem.id))
        if perturbed is not None:
            out["perturbed_numbers"].append(Variant(index, perturbed.question, perturbed.answer))
        distracted = add_irrelevant_sentence(problem.question, _rng(seed, VARIANTS[1], problem.id))
        out["irrelevant_sentence"].append(Variant(index, distracted, problem.answer))
        out["rephrased"].append(Variant(index, rephrase(problem.question, _rng(seed, VARIANTS[2], problem.id)), problem.answer))
    return out


def robustness_report(
    original: Sequence[Prediction],
    variants: Mapping[str, Sequence[Variant]],
    graded: Mapping[str, Sequence[Prediction]],
) -> dict[str, dict[str, Any]]:
    """Per variant: ``n`` problems covered, ``skipped`` ones, the original and the variant's
    ``{exact_match, symbolic_accuracy}`` on those problems, and ``accuracy_change`` (symbolic,
    variant minus original; null when ``n`` is 0)."""
    report = {}
    for name, items in variants.items():
        before = accuracy([original[v.index] for v in items])
        after = accuracy(graded[name])
        change = None if not items else after["symbolic_accuracy"] - before["symbolic_accuracy"]
        report[name] = {
            "n": len(items),
            "skipped": len(original) - len(items),
            "original": {k: before[k] for k in ("exact_match", "symbolic_accuracy")},
            "variant": {k: after[k] for k in ("exact_match", "symbolic_accuracy")},
            "accuracy_change": change,
        }
    return report
