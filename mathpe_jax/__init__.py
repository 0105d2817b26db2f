"""mathpe_jax: a controlled study of positional encodings in transformers that do mathematics."""

import flax

# Parameters carry logical axis names as metadata only; they are placed on devices explicitly
# (jit out_shardings computed from those names), so a model can be built with or without a mesh.
flax.config.update("flax_always_shard_variable", False)

__version__ = "0.1.0"
