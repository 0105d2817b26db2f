"""Optimizer, the jitted train step, checkpoints, logs and the loop that ties them together."""
