"""The report's settings sentence names every writing option a study trained with."""

from mathpe_jax.analysis.documents import settings_text

_SETTINGS = {"task": "addition", "train_lengths": [1, 10], "test_lengths": [11, 12], "reverse": True,
             "model": {"num_layers": 4, "width": 64, "num_heads": 4, "mlp_dim": 256},
             "train": {"steps": 4000, "batch_size": 64, "learning_rate": 0.001}}


def test_the_settings_sentence_names_the_writing_options_that_are_on():
    plain = settings_text(_SETTINGS)
    assert "spaces" not in plain and "unequal" not in plain
    text = settings_text({**_SETTINGS, "unequal_operands": True, "random_spaces": 0.1, "spaces_around_numbers": 6})
    assert "(reversed), unequal operands, random spaces in training (0.1), up to 6 spaces around each number in training;" in text
