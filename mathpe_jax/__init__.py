"""mathpe_jax: a controlled study of positional encodings in transformers that do mathematics.

Importing the package imports no JAX: the JAX-free layers (``grading``, ``progress``, ``hub``) stay
cheap to load, e.g. in the grading helper process.
"""

__version__ = "0.1.0"
