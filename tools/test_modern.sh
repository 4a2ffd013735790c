#!/usr/bin/env bash
# Second test environment with a modern PyTorch (>= 2.6, whose torch.load
# defaults to weights_only=True) and numpy 2. Builds a virtual environment
# outside the repository (first run ~30 min: mmcv compiles against the new
# torch), then runs the tests that do not need open-cd's model package (it
# imports torchvision, which has no working CPU build beside that torch).
# Versions and the open-cd commit come from ftan_opencd/stack.txt: the torch
# is its modern-torch setting, the OpenMMLab packages are its pins.
#
#   bash tools/test_modern.sh               # venv: ../venv-modern
#   FTAN_MODERN_VENV=/path bash tools/test_modern.sh
#   bash tools/test_modern.sh --print-pins  # what it would install, and from where
#
# open-cd (not on PyPI) comes from $OPENCD_SRC if set, else from its wheel in
# ../shared/wheels (or $FTAN_WHEELS) when present, else from git.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${FTAN_MODERN_VENV:-$here/../venv-modern}
py="$venv/bin/python"
WHEELS=${FTAN_WHEELS:-$here/../shared/wheels}
# requirement line (mmcv==...) or setting of the stack file; standard library only
get() { python3 "$here/ftan_opencd/env_check.py" --get "$1"; }

torch_spec=torch==$(get modern-torch)
setuptools_spec=$(get setuptools)
mmengine_spec=$(get mmengine)
mmcv_spec=$(get mmcv)
mm_specs=("$(get mmsegmentation)" "$(get mmdet)")
# shellcheck source=tools/opencd_source.sh
. "$here/tools/opencd_source.sh"

if [ "${1:-}" = --print-pins ]; then
    printf '%s\n' "venv: $venv" "$torch_spec" "$setuptools_spec" \
        "$mmengine_spec" "$mmcv_spec" "${mm_specs[@]}" "$opencd_spec" \
        "opencd-from: $opencd_from"
    exit 0
fi

[ -x "$py" ] || python3 -m venv "$venv"
pip_install() { "$py" -m pip install --no-cache-dir --disable-pip-version-check "$@"; }
if ! "$py" -c 'import torch, numpy; assert torch.__version__ >= "2.6" and numpy.__version__ >= "2"' 2>/dev/null; then
    pip_install "$torch_spec" 'numpy>=2' ninja wheel "$mmengine_spec" \
        opencv-python-headless pytest
    # the modern torch declares setuptools>=70, mmcv's build needs the stack's bound.
    pip_install --no-deps "$setuptools_spec"
fi
if ! "$py" -c 'import mmcv.ops' 2>/dev/null; then
    # separate cache (--no-cache-dir): never reuse the main environment's build
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip_install --no-build-isolation "$mmcv_spec"
fi
# the rest of requirements/runtime.txt and tests.txt (not those files: they pin numpy<2)
"$py" -c 'import mmseg, mmdet, onnx, onnxruntime, rasterio, shapely, pyogrio, safetensors, einops, pytest_timeout' \
    2>/dev/null || pip_install "${mm_specs[@]}" ftfy regex scipy matplotlib prettytable tqdm \
    onnx onnxruntime rasterio 'shapely>=2.0' 'pyogrio>=0.7' safetensors einops pytest-timeout
if ! "$py" -c 'import opencd' 2>/dev/null; then
    echo "[test_modern] open-cd from $opencd_from"
    pip_install "${opencd_args[@]}"
fi
"$py" -m pip install --no-deps --no-build-isolation -e "$here" >/dev/null
"$py" -c 'import torch, numpy; print("modern env: torch", torch.__version__, "numpy", numpy.__version__)'
cd "$here"
"$py" -m pytest -q -p no:cacheprovider -m "not needs_torchvision" tests
