#!/usr/bin/env bash
# The GPU run of FTAN-OpenCD on a machine without network (project issue 16).
#
# 1. Here, with network to PyPI, fill a wheel folder for the GPU machine:
#      bash tools/gpu_check.sh --prepare gpu_wheels [--python-version 3.12] [--full]
#    (a folder git ignores: add /gpu_wheels/ to .git/info/exclude first)
# 2. There, offline (the folder travels with the working tree):
#      bash tools/gpu_check.sh --run gpu_wheels "$OUT"
#    installs the stack into the machine's python3 from the folder (mmcv is
#    compiled from its sdist, CPU ops only, on all cores), checks the
#    imports, then runs timed steps on the GPU and writes OUT/summary.json.
#
# Every version comes from ftan_opencd/stack.txt (python ftan_opencd/env_check.py
# --get KEY); none is written here. See --help and README "GPU run".
#
# The steps are ftan_tools/gpu_check/{main,prepare,run}.sh and the Python
# helpers python -m ftan_tools.gpu_check.
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/ftan_tools/gpu_check/main.sh" "$@"
