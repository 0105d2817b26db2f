import pytest

from mathpe_jax.pe import REGISTRY, pe_options
from tests.pe.helpers import make_pe


def test_the_six_study_encodings_are_registered():
    assert {"sinusoidal", "rope", "alibi", "diet", "t5", "nope"} <= set(REGISTRY)


def test_unknown_name_names_the_value():
    with pytest.raises(ValueError, match="model.pe.name='xpos'"):
        make_pe("xpos")


def test_unknown_option_names_the_key():
    with pytest.raises(ValueError, match=r"model.pe.base is not an option of PE 'alibi'"):
        make_pe("alibi", base=10.0)


def test_options_are_the_constructor_keywords():
    assert {"base", "fraction"} <= pe_options("rope")
    assert pe_options("nope") == set()


def test_only_nope_requires_bos():
    assert [name for name, cls in REGISTRY.items() if cls.requires_bos] == ["nope"]
