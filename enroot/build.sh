#!/bin/bash
# Builds the enroot image the cluster jobs run in (CONTAINER=... for launch/node.pbs, node.slurm):
#   enroot/build.sh [--force] [OUTPUT.sqsh]
# imports the base image of recipe.sh, installs requirements.txt inside (install.sh), exports the
# result to OUTPUT (default enroot/mathpe_jax.sqsh). Needs enroot and network access to the registry
# (a login node); nvcr.io may need credentials in ~/.config/enroot/.credentials (see README.md).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=enroot/recipe.sh
. "$here/recipe.sh"
force=0
while [ $# -gt 0 ]; do
  case $1 in
    -f | --force) force=1 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1 (usage: enroot/build.sh [--force] [OUTPUT.sqsh])" >&2; exit 2 ;;
    *) MATHPE_IMAGE=$1 ;;
  esac
  shift
done
if ! command -v enroot > /dev/null; then
  echo "error: enroot is not on PATH: build on a machine with enroot (https://github.com/NVIDIA/enroot)," \
    "e.g. the cluster's login node, or load its module" >&2
  exit 127
fi
if [ -e "$MATHPE_IMAGE" ] && [ "$force" = 0 ]; then
  echo "error: $MATHPE_IMAGE exists: remove it or pass --force" >&2
  exit 2
fi
mkdir -p "$(dirname "$MATHPE_IMAGE")"
work=$(mktemp -d "${TMPDIR:-/tmp}/mathpe_enroot.XXXXXX")
name=mathpe_build_$$
cleanup() {
  enroot remove --force "$name" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "build.sh: importing docker://$MATHPE_BASE_IMAGE"
enroot import --output "$work/base.sqsh" "docker://$MATHPE_BASE_IMAGE"
enroot create --name "$name" "$work/base.sqsh"
rm -f "$work/base.sqsh"
echo "build.sh: installing requirements.txt into $name"
enroot start --rw --root --mount "$repo:/workspace" --env "MATHPE_IMAGE_PYTHON=$MATHPE_IMAGE_PYTHON" "$name" \
  bash /workspace/enroot/install.sh
rm -f "$MATHPE_IMAGE"
enroot export --output "$MATHPE_IMAGE" "$name"
echo "build.sh: wrote $MATHPE_IMAGE (use it with CONTAINER=$MATHPE_IMAGE)"
