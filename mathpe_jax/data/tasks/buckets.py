"""The length groups that accuracy is broken down by, one rule per kind of task.

Positional encodings differ most in how they cope with length, so every evaluation reports
accuracy per length group:

* a text dataset (GSM8K, MATH) splits its test problems into three buckets by question length, at
  the test set's own tertiles, which gives buckets of (nearly) equal size whatever the length unit;
* a synthetic task has a fixed test set per length; lengths inside the training range are
  in-distribution, all others out-of-distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUCKETS = ("short", "medium", "long")
IN_DISTRIBUTION, OUT_OF_DISTRIBUTION = "in_distribution", "out_of_distribution"


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


def length_group(length: int, train_lengths: tuple[int, int]) -> str:
    """In- or out-of-distribution: whether ``length`` lies in the inclusive training range."""
    lo, hi = train_lengths
    return IN_DISTRIBUTION if lo <= length <= hi else OUT_OF_DISTRIBUTION
