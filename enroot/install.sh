#!/bin/bash
# Runs inside the container that build.sh is building (the checkout mounted at /workspace):
# installs requirements.txt on top of the image's JAX, which it keeps: the jax line is left out,
# and the image's jax, jaxlib and CUDA plugins are pinned as constraints, so no dependency
# (flax, optax, orbax) can replace NVIDIA's CUDA build by a wheel from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${MATHPE_IMAGE_PYTHON:-python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The image's JAX must be one requirements.txt accepts.
spec=$(grep -iE '^[[:space:]]*jax(\[[^]]*\])?[[:space:]]*[<>=!~]' requirements.txt | head -n 1)
"$python" - "$spec" <<'PY'
import sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
try:
    import jax
except ImportError:
    sys.exit("error: the base image has no JAX: pick an NVIDIA JAX image (MATHPE_BASE_IMAGE)")
wanted = Requirement(sys.argv[1])
version = jax.__version__
if not wanted.specifier.contains(version, prereleases=True):
    sys.exit(f"error: the base image has JAX {version}, requirements.txt wants {wanted.specifier}: "
             "pick another tag (MATHPE_BASE_IMAGE)")
print(f"install.sh: keeping the image's JAX {version}")
PY
"$python" -m pip list --format=freeze |
  grep -iE '^(jax|jaxlib|jax[-_]cuda[0-9]+[-_](plugin|pjrt)|nvidia-[a-z0-9-]+)==' > "$tmp/constraints.txt" || true
grep -viE '^[[:space:]]*jax(\[[^]]*\])?[[:space:]]*([<>=!~;]|$)' requirements.txt > "$tmp/requirements.txt"
"$python" -m pip install --no-cache-dir -r "$tmp/requirements.txt" -c "$tmp/constraints.txt"
"$python" -c "import jax, flax, optax, orbax.checkpoint, transformers; print('install.sh: jax', jax.__version__, 'flax', flax.__version__)"
