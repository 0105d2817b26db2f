"""Problem-length buckets, for reporting accuracy on short versus long problems.

Positional encodings differ most in how they cope with length, so accuracy
is broken down by problem length. Bucket edges are the dataset's own
tertiles, which gives three buckets of (nearly) equal size whatever the
length unit (tokens or characters).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BUCKETS", "accuracy_by_bucket", "length_bucket", "tertile_edges"]

BUCKETS = ("short", "medium", "long")


def tertile_edges(lengths: Sequence[float]) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``lengths`` (linear interpolation)."""
    if len(lengths) == 0:
        raise ValueError("tertile_edges needs at least one length")
    low, high = np.quantile(np.asarray(lengths, dtype=np.float64), [1 / 3, 2 / 3])
    return float(low), float(high)


def length_bucket(n_tokens_or_chars: float, edges: tuple[float, float]) -> str:
    """``"short"`` up to and including the first edge, ``"long"`` above the second, else ``"medium"``."""
    low, high = edges
    if low > high:
        raise ValueError(f"edges must be ascending, got {edges}")
    if n_tokens_or_chars <= low:
        return "short"
    if n_tokens_or_chars <= high:
        return "medium"
    return "long"


def accuracy_by_bucket(
    lengths: Sequence[float], correct: Sequence[bool], edges: tuple[float, float] | None = None
) -> dict[str, dict[str, float]]:
    """Accuracy and count per bucket: ``{"short": {"n": 10, "accuracy": 0.7}, ...}``.

    ``edges`` default to the tertiles of ``lengths``; pass the edges of a
    reference split to compare models or splits on the same buckets. An
    empty bucket reports ``n = 0`` and ``accuracy = nan``.
    """
    if len(lengths) != len(correct):
        raise ValueError(f"{len(lengths)} lengths but {len(correct)} verdicts")
    edges = tertile_edges(lengths) if edges is None else edges
    hits: dict[str, list[bool]] = {name: [] for name in BUCKETS}
    for length, ok in zip(lengths, correct):
        hits[length_bucket(length, edges)].append(bool(ok))
    return {
        name: {"n": len(values), "accuracy": float(np.mean(values)) if values else float("nan")}
        for name, values in hits.items()
    }
