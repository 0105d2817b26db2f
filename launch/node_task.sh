#!/bin/bash
# One node's process of a run started by node.pbs or node.slurm:
#   node_task.sh [NAME=VALUE ...] [--] DIR PROCESS_ID NUM_PROCESSES COORDINATOR CONFIG WORKDIR [--config.x=y ...]
# NAME=VALUE words are exported first (pbsdsh starts tasks without the job's environment). DIR is
# where CONFIG and WORKDIR are relative to; PROCESS_ID is a number or the name of the variable that
# holds it (SLURM_PROCID under srun).
#
# Without CONTAINER the process is MATHPE_PYTHON (default: python) on the node. With CONTAINER (an
# enroot image file, e.g. enroot/mathpe_jax.sqsh, or the name of an enroot container) it runs in
# it through `enroot start`, with the python of the image (MATHPE_CONTAINER_PYTHON, default: python)
# and these host directories mounted at the same paths: the checkout (MATHPE_REPO, also PYTHONPATH),
# DIR, the data (MATHPE_DATA_DIR), the Hugging Face cache (HF_HOME), a scratch directory
# (MATHPE_SCRATCH, also TMPDIR), an absolute WORKDIR's parent and the directories in MATHPE_MOUNTS
# (colon-separated). An image file is unpacked once per node into the enroot container
# mathpe_<image name> (enroot create), reused by later jobs while the image is unchanged.
set -euo pipefail
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; break; fi
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || break
  export "${1?}"
  shift
done
[ $# -ge 6 ] || { echo "error: node_task.sh needs DIR PROCESS_ID NUM_PROCESSES COORDINATOR CONFIG WORKDIR" >&2; exit 2; }
dir=$1 process_id=$2 num_processes=$3 coordinator=$4 config=$5 workdir=$6
shift 6
if [[ ! $process_id =~ ^[0-9]+$ ]]; then
  process_id=${!process_id:?"$process_id (the process id) is not set on $(hostname)"}
fi
cd "$dir"
export MATHPE_COORDINATOR=$coordinator MATHPE_NUM_PROCESSES=$num_processes MATHPE_PROCESS_ID=$process_id
main=(-m mathpe_jax.main --config="$config" --workdir="$workdir" "$@")
if [ -z "${CONTAINER:-}" ]; then
  exec "${MATHPE_PYTHON:-python}" "${main[@]}"
fi

fail() {
  echo "error: process $process_id on $(hostname): $*" >&2
  exit 2
}
command -v enroot > /dev/null || fail "CONTAINER=$CONTAINER is set but enroot is not on PATH (see enroot/README.md)"
container=$CONTAINER
if [ -f "$CONTAINER" ]; then
  # One container per image and node; its name changes when the image file does.
  stamp=$(stat -c %Y "$CONTAINER")
  container=mathpe_$(basename "$CONTAINER" .sqsh | tr -c 'A-Za-z0-9_.\n-' _)_$stamp
  if ! enroot list | grep -qxF "$container"; then
    echo "node_task.sh: process $process_id: enroot create --name $container $CONTAINER" >&2
    # Another job on this node may be creating it at the same moment: its container will do.
    enroot create --name "$container" "$CONTAINER" > /dev/null ||
      enroot list | grep -qxF "$container" || fail "enroot create --name $container $CONTAINER failed"
  fi
elif [[ $CONTAINER == */* || $CONTAINER == *.sqsh ]]; then
  fail "CONTAINER=$CONTAINER: no such image file"
fi

mounts=() seen=:
mount_dir() {
  local path=$1
  [ -n "$path" ] || return 0
  [[ $path == /* ]] || path=$PWD/$path
  case $path in *:*) fail "cannot mount $path in the container: enroot mounts cannot contain ':'" ;; esac
  case $seen in *":$path:"*) return 0 ;; esac
  mkdir -p "$path" 2> /dev/null || [ -d "$path" ] || fail "cannot create $path to mount in the container"
  seen+="$path:"
  mounts+=(--mount "$path:$path")
}
repo=${MATHPE_REPO:-$dir}
export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}
mount_dir "$repo"
mount_dir "$dir"
mount_dir "${MATHPE_DATA_DIR:-}"
mount_dir "${HF_HOME:-}"
if [ -n "${MATHPE_SCRATCH:-}" ]; then
  mount_dir "$MATHPE_SCRATCH"
  export TMPDIR=$MATHPE_SCRATCH
fi
[[ $workdir == /* ]] && mount_dir "$(dirname "$workdir")"
IFS=: read -r -a extra_mounts <<< "${MATHPE_MOUNTS:-}"
for path in "${extra_mounts[@]}"; do mount_dir "$path"; done

# The container starts with its image's environment: hand over the run's variables by name, the
# same allow-list as the job's tasks get (launch/common.sh), and the paths set above.
# shellcheck source=launch/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
envs=()
while IFS= read -r name; do
  if mathpe_passes "$name" || [ "$name" = PYTHONPATH ] || [ "$name" = TMPDIR ]; then envs+=(--env "$name"); fi
done < <(compgen -e | sort)
# `enroot start` has no working-directory option: a shell inside changes to DIR, then becomes python.
# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
exec enroot start "${mounts[@]}" "${envs[@]}" "$container" \
  /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "${MATHPE_CONTAINER_PYTHON:-python}" "${main[@]}"
