#!/usr/bin/env bash
# Test under SLURM (open-cd's interface):
#   [GPUS=4 GPUS_PER_NODE=4 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args]
# CPU partition: GPUS_PER_NODE=0 NTASKS=N (see tools/slurm_launch.sh).
# [args] are tools/test.py's options (--work-dir, --show-dir, ...); the
# metrics equal a one-process run's.
set -euo pipefail
source "$(dirname "$0")/slurm_launch.sh"
slurm_launch "$1" "$2" test.py "$3" "$4" --launcher slurm "${@:5}"
