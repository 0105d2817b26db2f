"""Positional encodings and the registry that maps a config name to a class.

Adding a PE is one new file plus one line in ``REGISTRY``; no other file changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flax import nnx

import mathpe_jax.parallel  # noqa: F401 - parameters carry logical axis names as metadata only
from mathpe_jax.pe.abacus import Abacus
from mathpe_jax.pe.abacus_fire import AbacusFIRE
from mathpe_jax.pe.abacus_place import AbacusPlace
from mathpe_jax.pe.alibi import ALiBi
from mathpe_jax.pe.base import PEDims, PositionalEncoding
from mathpe_jax.pe.diet import DIET
from mathpe_jax.pe.fire import FIRE
from mathpe_jax.pe.learned import LearnedAbsolute
from mathpe_jax.pe.nope import NoPE
from mathpe_jax.pe.place_bias import PlaceBias
from mathpe_jax.pe.rope import RoPE
from mathpe_jax.pe.sinusoidal import Sinusoidal
from mathpe_jax.pe.t5_relative import T5RelativeBias

REGISTRY: dict[str, type[PositionalEncoding]] = {
    "sinusoidal": Sinusoidal,
    "rope": RoPE,
    "alibi": ALiBi,
    "diet": DIET,
    "t5": T5RelativeBias,
    "nope": NoPE,
    "abacus": Abacus,
    "fire": FIRE,
    "learned": LearnedAbsolute,
    "abacus_fire": AbacusFIRE,
    "place_bias": PlaceBias,
    "abacus_place": AbacusPlace,
}


def pe_class(name: str) -> type[PositionalEncoding]:
    """The class registered under ``name``; a clear error for an unknown name."""
    if name not in REGISTRY:
        raise ValueError(f"unknown positional encoding model.pe.name={name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def pe_options(name: str) -> set[str]:
    """The option names the PE ``name`` accepts (its constructor's keyword arguments)."""
    return pe_class(name).option_names()


def check_pe_options(name: str, options: Mapping[str, Any], prefix: str = "model.pe") -> None:
    """Raises with the offending key when ``options`` holds a name the PE does not take."""
    unknown = sorted(set(options) - pe_options(name))
    if unknown:
        raise ValueError(
            f"{prefix}.{unknown[0]} is not an option of PE {name!r}; it takes {sorted(pe_options(name))}"
        )


def chosen_pe(model: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The PE a config's ``model`` section chooses and its options: every field under ``model.pe``
    but ``name``, over the options ``model.pe_by_name`` keeps for that name. ``pe_by_name`` holds
    options for several PEs at once, so a config switches PE with ``--config.model.pe.name=NAME``
    alone and each PE still gets its own settings; it is checked whole, whichever PE is chosen."""
    pe = dict(model["pe"])
    by_name = {key: dict(value) for key, value in dict(model.get("pe_by_name") or {}).items()}
    for key, options in by_name.items():
        if key not in REGISTRY:
            raise ValueError(f"model.pe_by_name.{key} names no positional encoding; known: {sorted(REGISTRY)}")
        check_pe_options(key, options, prefix=f"model.pe_by_name.{key}")
    name = pe.pop("name")
    return name, {**by_name.get(name, {}), **pe}


def build_pe(name: str, dims: PEDims, options: Mapping[str, Any], rngs: nnx.Rngs) -> PositionalEncoding:
    """Builds the PE ``name`` with its options (every config field under model.pe but ``name``)."""
    check_pe_options(name, options)
    return pe_class(name)(dims, rngs=rngs, **options)


__all__ = ["REGISTRY", "PEDims", "PositionalEncoding", "build_pe", "check_pe_options", "chosen_pe", "pe_class", "pe_options"]
