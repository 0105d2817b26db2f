"""What each PE says training never reached: T5's buckets against a float64 NumPy transcription of
T5's causal bucketing (Raffel et al. 2020; the Hugging Face formula), DIET's rows and distances
against its table sizes, and the fixed encodings' positions."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from mathpe_jax.pe import PEDims, build_pe
from mathpe_jax.pe.base import span

DIMS = PEDims(width=32, num_heads=2, head_dim=16, num_layers=2, max_len=48)


def t5_bucket(distance: np.ndarray, num_buckets: int, max_distance: int) -> np.ndarray:
    n = np.maximum(distance, 0).astype(np.float64)
    max_exact = num_buckets // 2
    large = max_exact + (np.log(np.maximum(n, 1) / max_exact) / np.log(max_distance / max_exact) * (num_buckets - max_exact)).astype(np.int64)
    return np.where(n < max_exact, n, np.minimum(large, num_buckets - 1)).astype(np.int64)


def pe(name: str, **options):
    return build_pe(name, DIMS, options, nnx.Rngs(0))


@pytest.mark.parametrize(("trained", "evaluated"), [(23, 43), (10, 12), (40, 300), (30, 20)])
def test_t5_untrained_buckets_match_the_reference(trained, evaluated):
    coverage = pe("t5", num_buckets=32, max_distance=128).coverage(trained, evaluated)
    expected = sorted(set(t5_bucket(np.arange(evaluated), 32, 128)) - set(t5_bucket(np.arange(trained), 32, 128)))
    assert coverage["untrained"] == expected and coverage["learned"] and coverage["unit"] == "bucket"


def test_diet_abs_rows_and_rel_distances_stop_at_their_tables():
    rows = pe("diet", variant="abs", rank=4).coverage(23, 60)
    assert rows["untrained"] == list(range(23, 48)) and "reuse row 47" in rows["summary"]
    distances = pe("diet", variant="rel", max_distance=30).coverage(23, 60)
    assert distances["untrained"] == list(range(23, 31)) and distances["unit"] == "distance"


@pytest.mark.parametrize("name", ["rope", "alibi", "sinusoidal", "nope"])
def test_fixed_encodings_name_the_positions_beyond_training(name):
    coverage = pe(name).coverage(5, 9)
    assert coverage == {"learned": False, "unit": "position", "untrained": [5, 6, 7, 8],
                        "summary": "no learned position parameters; positions 5-8 beyond training"}


def test_span_writes_runs_of_integers():
    assert (span([]), span([3]), span([1, 2, 3, 7, 9, 10])) == ("none", "3", "1-3, 7, 9-10")
