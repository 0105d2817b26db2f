"""Serving: an HTTP API over loaded checkpoints with a batching queue per model, and a demo page.

``python -m mathpe_jax.serve --model rope=RUN_DIR --model nope=RUN_DIR2`` (see ``__main__``);
``create_app`` builds the ASGI app for tests and embedding.
"""

from mathpe_jax.serve.app import Settings, create_app
from mathpe_jax.serve.models import ServedModel, load_models

__all__ = ["ServedModel", "Settings", "create_app", "load_models"]
