"""Tertile edges and length buckets of text datasets."""

from __future__ import annotations

import pytest

from mathpe_jax.data.tasks.buckets import BUCKETS, length_bucket, tertile_edges


def test_tertile_edges() -> None:
    assert tertile_edges(list(range(1, 10))) == pytest.approx((11 / 3, 19 / 3))
    assert tertile_edges([5]) == (5.0, 5.0)
    with pytest.raises(ValueError):
        tertile_edges([])


def test_length_bucket_edges_are_inclusive_upper_bounds() -> None:
    edges = (10.0, 20.0)
    assert [length_bucket(n, edges) for n in (0, 10, 10.5, 20, 21)] == [
        "short",
        "short",
        "medium",
        "medium",
        "long",
    ]
    with pytest.raises(ValueError):
        length_bucket(5, (20.0, 10.0))


def test_tertiles_give_balanced_buckets() -> None:
    lengths = list(range(300))
    edges = tertile_edges(lengths)
    counts = {name: sum(length_bucket(n, edges) == name for n in lengths) for name in BUCKETS}
    assert counts == {"short": 100, "medium": 100, "long": 100}
