#!/bin/bash
# What node.pbs and node.slurm share, sourced by both after they cd to the submission directory:
# the run's settings from the job's environment, and the environment every node's task gets.
#
# Sets REPO (the checkout), CONFIG, WORKDIR, EXTRA (main's extra arguments: ARGS_FILE, one per
# line, else ARGS split at spaces) and TASK_ENV (NAME=VALUE words for launch/node_task.sh, which
# exports them: pbsdsh starts tasks without the job's environment, and enroot containers start
# without the host's).

# The variables a task receives, an allow-list: these names, and names with these prefixes, unless
# a name looks like a secret (token, key, secret, password, credential, auth; any case). NAME=VALUE
# words appear on the task's command line, which every user of the node can read; the Hugging Face
# libraries read a token from HF_HOME/token instead.
MATHPE_PASS_NAMES=(CONTAINER HF_HOME HF_HUB_CACHE HF_DATASETS_CACHE HF_HUB_OFFLINE HF_DATASETS_OFFLINE
  TRANSFORMERS_OFFLINE TRANSFORMERS_CACHE TF_CPP_MIN_LOG_LEVEL)
MATHPE_PASS_PREFIXES=(MATHPE_ JAX_ XLA_ NCCL_)

# Succeeds when a task may receive the variable NAME (see above).
mathpe_passes() {
  local name=$1 allowed
  case ${name^^} in
    *TOKEN* | *KEY* | *SECRET* | *PASSWORD* | *PASSWD* | *CREDENTIAL* | *AUTH*) return 1 ;;
  esac
  for allowed in "${MATHPE_PASS_NAMES[@]}"; do
    [ "$name" = "$allowed" ] && return 0
  done
  for allowed in "${MATHPE_PASS_PREFIXES[@]}"; do
    [[ $name == "$allowed"* ]] && return 0
  done
  return 1
}

mathpe_fail() {
  echo "error: $*" >&2
  exit 2
}

# shellcheck disable=SC2034 # REPO, CONFIG, WORKDIR, EXTRA and TASK_ENV are for the sourcing script
mathpe_prepare() {
  REPO=${MATHPE_REPO:-$PWD}
  [ -f "$REPO/launch/node_task.sh" ] ||
    mathpe_fail "$REPO is not the repository: submit from the repository root or set MATHPE_REPO"
  CONFIG=${CONFIG:-configs/rope.py}
  WORKDIR=${WORKDIR:-runs/$(basename "$CONFIG" .py)}
  EXTRA=()
  if [ -n "${ARGS_FILE:-}" ]; then
    [ -r "$ARGS_FILE" ] || mathpe_fail "ARGS_FILE=$ARGS_FILE cannot be read"
    mapfile -t EXTRA < "$ARGS_FILE"
  else
    read -r -a EXTRA <<< "${ARGS:-}"
  fi
  # Cluster defaults: compute nodes are usually offline, so the Hugging Face libraries read only
  # their cache (export HF_HUB_OFFLINE=0 etc. to let them download).
  export MATHPE_REPO=$REPO
  export MATHPE_DATA_DIR=${MATHPE_DATA_DIR:-$(dirname "$REPO")/shared/data}
  if [ -z "${HF_HOME:-}" ] && [ -n "${HOME:-}" ]; then export HF_HOME=$HOME/.cache/huggingface; fi
  export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
  export HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
  export TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
  TASK_ENV=()
  local name
  while IFS= read -r name; do
    if mathpe_passes "$name"; then TASK_ENV+=("$name=${!name}"); fi
  done < <(compgen -e | sort)
}

# One line for the job's output: where the run goes and in what.
mathpe_describe() {
  local nodes=$1 coordinator=$2
  echo "mathpe_jax: $nodes node(s), coordinator $coordinator, config $CONFIG, workdir $WORKDIR," \
    "container ${CONTAINER:-none (${MATHPE_PYTHON:-python})}"
}
