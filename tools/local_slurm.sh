#!/usr/bin/env bash
# A single-node SLURM cluster on this machine (Debian slurm-wlm + munge,
# installed with apt-get when missing; root):
#   eval "$(bash tools/local_slurm.sh start [DIR])"   # sets SLURM_CONF
#   srun -n 2 hostname
#   bash tools/local_slurm.sh stop [DIR]
# DIR (default /tmp/ftan-slurm) holds slurm.conf, the pid, log and state files.
set -euo pipefail
cd "$(dirname "$0")/.."
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" \
    -m ftan_tools.cluster "$@"
