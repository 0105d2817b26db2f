"""The Llama-style decoder, its attention function and LoRA adapters."""

import mathpe_jax.parallel  # noqa: F401 - parameters carry logical axis names as metadata only
