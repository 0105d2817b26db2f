"""Optimizer, the jitted train step, logs and the loop that ties them together with the run's
checkpoints (``run.checkpoint``)."""
