import re

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
        ("task.test_lengths", (2, 3), "config.task.test_lengths=(2, 3): length 2 is not beyond task.train_lengths=(1, 2)"),
        ("task.test_lengths", (0,), "config.task.test_lengths=(0,): lengths must be integers >= 1"),
        ("model.max_len", 12, "config.task.test_lengths=(3,): addition at length 3 takes up to 14 tokens"),
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


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"task.template": "fewshot"}, "config.task.template='fewshot': must be one of"),
        ({"task.max_len": 512}, "config.task.max_len=512: training sequences this long do not fit model.max_len=64"),
        ({"task.train_limit": -1}, "config.task.train_limit=-1: must be an integer >= 0"),
        ({"task.length_quantum": 0}, "config.task.length_quantum=0: must be an integer >= 1"),
    ],
)
def test_a_dataset_task_checks_its_own_block(overrides, message):
    config = tiny_config("rope", **{"task.name": "math", "task.max_len": 64, **overrides})
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        validate(config)
    assert "\n" not in str(err.value)


def test_a_pretrained_checkpoint_sets_its_own_length(tmp_path):
    validate(tiny_config("rope", **{"task.name": "math", "task.max_len": 512, "init.hf_dir": str(tmp_path)}))
