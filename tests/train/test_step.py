"""The training step with modules that draw random numbers while training."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from mathpe_jax import build
from mathpe_jax.parallel.mesh import mesh_from_config
from mathpe_jax.train.trainer import train
from tests.helpers_run import tiny_config


def test_lora_dropout_trains_and_advances_its_stream(tmp_path):
    """Dropout draws from a stream that enters the step from outside the gradient's trace; the
    step must let it advance there (it once failed with flax's TraceContextError)."""
    config = tiny_config("rope", **{"lora.rank": 4, "lora.dropout": 0.5, "train.steps": 2, "train.log_every": 2,
                                    "train.checkpoint_every": 2, "train.warmup_steps": 1})
    tokenizer = build.build_tokenizer(config, tmp_path)
    mesh = mesh_from_config(config.mesh)
    model = build.build_model(config, tokenizer, mesh)
    counts = lambda: [int(v[...]) for p, v in nnx.to_flat_state(nnx.state(model, nnx.RngCount))]  # noqa: E731
    before = counts()
    with jax.set_mesh(mesh):
        result = train(model, build.batch_fn(config, tokenizer), dict(config.train), tmp_path, mesh,
                       build.trainable(config))
    assert result.step == 2 and np.isfinite(result.final_loss)
    assert before and all(after > start for start, after in zip(before, counts(), strict=True))
