#!/bin/bash
# The image recipe, sourced by build.sh: NVIDIA's JAX container (JAX, jaxlib and the CUDA stack as
# NVIDIA builds them) plus this repository's requirements.txt without its jax line. Every value can
# be overridden from the environment, e.g. MATHPE_BASE_IMAGE=nvcr.io#nvidia/jax:26.11-py3.
# The base image must carry a JAX that requirements.txt accepts (install.sh checks, and stops if not).
# shellcheck disable=SC2034 # the values are build.sh's
MATHPE_BASE_IMAGE=${MATHPE_BASE_IMAGE:-nvcr.io#nvidia/jax:26.10-py3}
# Where build.sh writes the image (its first argument wins).
MATHPE_IMAGE=${MATHPE_IMAGE:-$(dirname "${BASH_SOURCE[0]}")/mathpe_jax.sqsh}
# The python of the image that runs pip.
MATHPE_IMAGE_PYTHON=${MATHPE_IMAGE_PYTHON:-python}
