#!/bin/bash
# One node's process of a run started by node.pbs:
#   node_task.sh REPO PROCESS_ID NUM_PROCESSES COORDINATOR CONFIG WORKDIR [--config.x=y ...]
set -euo pipefail
repo=$1 process_id=$2 num_processes=$3 coordinator=$4 config=$5 workdir=$6
shift 6
cd "$repo"
export MATHPE_COORDINATOR=$coordinator MATHPE_NUM_PROCESSES=$num_processes MATHPE_PROCESS_ID=$process_id
exec "${MATHPE_PYTHON:-python}" -m mathpe_jax.main --config="$config" --workdir="$workdir" "$@"
