import pytest

from mathpe_jax.config import ConfigError, validate
from tests.helpers_run import tiny_config


@pytest.mark.parametrize("name", ["sinusoidal", "rope", "alibi", "diet", "t5", "nope"])
def test_every_pe_config_is_valid_and_differs_from_base_only_in_the_pe(name):
    from configs import base

    config = tiny_config(name)
    validate(config)
    ours = tiny_config(name).to_dict()
    reference = tiny_config("rope").to_dict()
    for d in (ours, reference):
        d.pop("name")
        d["model"].pop("pe")
    assert ours == reference
    assert base.get_config().model.pe.name == "rope"


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("model.pe.name", "xpos", "model.pe.name='xpos'"),
        ("model.num_heads", 3, "config.model.num_heads=3: must divide model.width=32"),
        ("model.num_kv_heads", 3, "config.model.num_kv_heads=3: must divide model.num_heads=2"),
        ("train.steps", -1, "config.train.steps=-1"),
        ("train.grad_accum", 3, "config.train.grad_accum=3: must divide train.batch_size=16"),
        ("task.name", "sorting", "config.task.name='sorting'"),
        ("task.train_lengths", (5, 2), "config.task.train_lengths=(5, 2)"),
        ("model.dtype", "float8", "config.model.dtype='float8'"),
        ("mesh.data", 0, "config.mesh.data=0"),
        ("train.learning_rate", 0.0, "config.train.learning_rate=0.0"),
        ("train.warmup_steps", 30, "config.train.warmup_steps=30: must not exceed train.steps=20"),
        ("train.weight_decay", -0.1, "config.train.weight_decay=-0.1: must be >= 0"),
    ],
)
def test_bad_values_stop_with_the_key_and_value(key, value, message):
    config = tiny_config("rope", **{key: value})
    with pytest.raises(ConfigError) as err:
        validate(config)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_pe_option_of_another_pe_is_rejected():
    config = tiny_config("rope", **{"model.pe.name": "alibi"})
    with pytest.raises(ConfigError, match="model.pe.base is not an option of PE 'alibi'"):
        validate(config)


def test_nope_without_bos_is_rejected():
    with pytest.raises(ConfigError, match="task.bos=False"):
        validate(tiny_config("nope", **{"task.bos": False}))
