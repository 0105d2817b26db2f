import numpy as np
import pytest

from mathpe_jax.data.batching import sft_batch


def test_loss_only_on_answer_and_eos_with_padding_marked():
    batch = sft_batch([[1, 5, 6], [1, 7]], [[8, 9], [10]], eos_id=2, pad_id=0)
    # Row 0: BOS 5 6 | 8 9 EOS (BOS is part of the prompt) -> inputs BOS 5 6 8 9, targets 5 6 8 9 EOS.
    np.testing.assert_array_equal(batch.inputs[0, :5], [1, 5, 6, 8, 9])
    np.testing.assert_array_equal(batch.targets[0, :5], [5, 6, 8, 9, 2])
    np.testing.assert_array_equal(batch.loss_mask[0, :5], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(batch.positions[1, :4], [0, 1, 2, -1])
    np.testing.assert_array_equal(batch.loss_mask[1, :4], [0, 1, 1, 0])
    assert batch.inputs.shape[1] % 8 == 0


def test_a_one_token_prompt():
    batch = sft_batch([[5]], [[6]], eos_id=2, pad_id=0)
    np.testing.assert_array_equal(batch.inputs[0, :2], [5, 6])
    np.testing.assert_array_equal(batch.loss_mask[0, :2], [1, 1])


def test_too_long_is_named():
    with pytest.raises(ValueError, match="example 0 has 5 tokens"):
        sft_batch([[1, 5, 6]], [[7]], eos_id=2, pad_id=0, seq_len=3)


def test_randomized_positions_are_sorted_distinct_draws_from_the_range_and_keep_padding():
    from mathpe_jax.data.batching import randomize_positions

    batch = sft_batch([[1, 5, 6, 7, 8], [1, 7]], [[8, 9, 10], [10]], eos_id=2, pad_id=0)
    out = randomize_positions(batch, 64, np.random.default_rng(0))
    for row, n in ((0, 8), (1, 3)):
        real = out.positions[row, :n]
        assert np.all(np.diff(real) > 0) and real.min() >= 0 and real.max() < 64
        assert np.all(out.positions[row, n:] == -1)
    np.testing.assert_array_equal(out.inputs, batch.inputs)
    again = randomize_positions(batch, 64, np.random.default_rng(0))
    np.testing.assert_array_equal(again.positions, out.positions)
    # Over many draws every position of the range appears, including those past the row's length.
    seen = np.concatenate([randomize_positions(batch, 64, np.random.default_rng(s)).positions[0] for s in range(200)])
    assert set(seen[seen >= 0].tolist()) == set(range(64))


def test_randomized_positions_refuse_a_row_longer_than_the_range():
    from mathpe_jax.data.batching import randomize_positions

    batch = sft_batch([[1, 5, 6, 7, 8]], [[8, 9]], eos_id=2, pad_id=0)
    with pytest.raises(ValueError, match="row 0 has 7 tokens, more than the 4 positions"):
        randomize_positions(batch, 4, np.random.default_rng(0))
