#!/usr/bin/env bash
# Distributed prediction with torchrun (variables: tools/torchrun_launch.sh):
#   bash tools/dist_predict.sh CONFIG CHECKPOINT NUM_PROCS [predict.py options]
# A folder (--dir1/--dir2/--out-dir) is shared out by pair, one scene
# (--img1/--img2/--out) by row bands; the outputs equal one process's.
set -euo pipefail
source "$(dirname "$0")/torchrun_launch.sh"
torchrun_launch "$3" predict.py "$1" "$2" "${@:4}"
