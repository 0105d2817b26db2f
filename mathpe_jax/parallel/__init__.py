"""Device meshes, logical-axis rules and multi-host start-up.

Importing this package sets how parameters are placed, for every module that creates them (``pe/``
and ``model/`` import it): parameters carry logical axis names as metadata only and are placed on
devices explicitly (jit out_shardings computed from those names), so a model can be built with or
without a mesh.
"""

import flax

flax.config.update("flax_always_shard_variable", False)
