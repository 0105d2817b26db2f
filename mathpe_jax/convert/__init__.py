"""Hugging Face <-> mathpe_jax: checkpoints, PEFT adapters and our own checkpoint format."""

from mathpe_jax.convert.errors import ConversionError
from mathpe_jax.convert.export import export_hf
from mathpe_jax.convert.load import load_hf
from mathpe_jax.convert.native import load_model, save_model
from mathpe_jax.convert.peft import export_peft, load_peft

__all__ = ["ConversionError", "export_hf", "export_peft", "load_hf", "load_model", "load_peft", "save_model"]
