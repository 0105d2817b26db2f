import pytest

from mathpe_jax.pe import REGISTRY, chosen_pe, pe_options
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


def test_only_encodings_without_attention_positions_require_bos():
    assert sorted(name for name, cls in REGISTRY.items() if cls.requires_bos) == ["abacus", "abacus_place", "nope", "place_bias"]


def test_options_per_name_apply_to_the_chosen_pe_only():
    model = {"pe": {"name": "rope"}, "pe_by_name": {"abacus": {"max_offset": 3}, "rope": {"base": 500.0}}}
    assert chosen_pe(model) == ("rope", {"base": 500.0})
    model["pe"] = {"name": "abacus", "max_offset": 9}  # model.pe's own options win
    assert chosen_pe(model) == ("abacus", {"max_offset": 9})
    assert chosen_pe({"pe": {"name": "nope"}}) == ("nope", {})


@pytest.mark.parametrize(
    "by_name, message",
    [
        ({"xpos": {}}, r"model.pe_by_name.xpos names no positional encoding"),
        ({"alibi": {"base": 2.0}}, r"model.pe_by_name.alibi.base is not an option of PE 'alibi'"),
    ],
)
def test_options_per_name_are_checked_whichever_pe_runs(by_name, message):
    with pytest.raises(ValueError, match=message):
        chosen_pe({"pe": {"name": "rope"}, "pe_by_name": by_name})
