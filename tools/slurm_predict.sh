#!/usr/bin/env bash
# Predict under SLURM (open-cd's interface, as slurm_test.sh):
#   [GPUS=4 GPUS_PER_NODE=4 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#       bash tools/slurm_predict.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args]
# CPU partition: GPUS_PER_NODE=0 NTASKS=N (see tools/slurm_launch.sh).
# [args] are tools/predict.py's options: --dir1/--dir2/--out-dir shares a
# folder out by pair, --img1/--img2/--out splits one scene by row bands;
# the outputs equal a one-process run's.
set -euo pipefail
source "$(dirname "$0")/slurm_launch.sh"
slurm_launch "$1" "$2" predict.py "$3" "$4" --launcher slurm "${@:5}"
