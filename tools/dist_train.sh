#!/usr/bin/env bash
# Distributed train with torchrun (variables: tools/torchrun_launch.sh):
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
set -euo pipefail
source "$(dirname "$0")/torchrun_launch.sh"
torchrun_launch "$2" train.py "$1" "${@:3}"
