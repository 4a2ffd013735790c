#!/usr/bin/env bash
# Train under SLURM (open-cd's interface):
#   [GPUS=4 GPUS_PER_NODE=4 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args]
# CPU partition: GPUS_PER_NODE=0 NTASKS=N (see tools/slurm_launch.sh).
# [args] are tools/train.py's options (--iters, --amp, --cfg-options, ...).
set -euo pipefail
source "$(dirname "$0")/slurm_launch.sh"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then  # a 4th argument, not an option
    WORK_DIR=(--work-dir "$1")
    shift
fi
slurm_launch "$PARTITION" "$JOB_NAME" train.py "$CONFIG" --launcher slurm \
    "${WORK_DIR[@]}" "$@"
