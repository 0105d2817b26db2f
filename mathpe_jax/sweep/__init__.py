"""Sweeps: every (config, seed) of a comparison run as its own ``mathpe_jax.main`` process, locally
a few at a time or as PBS jobs, skipping finished runs and resuming unfinished ones; and the
monitor that reads their run directories.

Nothing here imports JAX: a sweep only plans, starts and watches processes, and each run is an
ordinary run directory that ``main`` owns.
"""
