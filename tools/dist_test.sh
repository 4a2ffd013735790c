#!/usr/bin/env bash
# Distributed test with torchrun (variables: tools/torchrun_launch.sh):
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
set -euo pipefail
source "$(dirname "$0")/torchrun_launch.sh"
torchrun_launch "$3" test.py "$1" "$2" "${@:4}"
