"""Sweeps: every (config, seed) of a comparison run as its own ``mathpe_jax.main`` process, locally
a few at a time or as PBS jobs, skipping finished runs and resuming unfinished ones, in a sweep
directory that one sweep holds at a time and that keeps one study; and the monitor that reads their
run directories.

Nothing here uses JAX: a sweep only plans, starts and watches processes, and each run is an
ordinary run directory that ``main`` owns. The monitor does not even import it, so it starts at once.
"""
