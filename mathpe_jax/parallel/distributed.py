"""Multi-host start-up: one process per node, coordinates from the environment.

``launch/node.pbs`` (or any launcher) exports ``MATHPE_COORDINATOR`` (host:port),
``MATHPE_NUM_PROCESSES`` and ``MATHPE_PROCESS_ID``; without them the run is single-process.
"""

from __future__ import annotations

import os

import jax
from absl import logging

ENV_COORDINATOR = "MATHPE_COORDINATOR"
ENV_NUM_PROCESSES = "MATHPE_NUM_PROCESSES"
ENV_PROCESS_ID = "MATHPE_PROCESS_ID"


def initialize_from_env() -> bool:
    """Calls ``jax.distributed.initialize`` when the environment names a coordinator.

    Returns whether it did. On CPU the collectives go through gloo, so several local processes
    can stand in for several nodes.
    """
    coordinator = os.environ.get(ENV_COORDINATOR)
    if not coordinator:
        return False
    try:
        num_processes = int(os.environ[ENV_NUM_PROCESSES])
        process_id = int(os.environ[ENV_PROCESS_ID])
    except (KeyError, ValueError) as err:
        raise ValueError(
            f"{ENV_COORDINATOR}={coordinator!r} needs integer {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID}: {err}"
        ) from None
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # affects CPU devices only
    jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
    logging.info("process %d of %d, coordinator %s", process_id, num_processes, coordinator)
    return True
