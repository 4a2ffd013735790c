#!/usr/bin/env bash
# Second test environment with a modern PyTorch (>= 2.6, whose torch.load
# defaults to weights_only=True) and numpy 2. Builds a virtual environment
# outside the repository (first run ~30 min: mmcv 2.1.0 compiles against the
# new torch), then runs the tests that do not need open-cd's model package
# (it imports torchvision, which has no working CPU build beside torch 2.13).
#
#   bash tools/test_modern.sh            # venv: ../venv-modern
#   FTAN_MODERN_VENV=/path bash tools/test_modern.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${FTAN_MODERN_VENV:-$here/../venv-modern}
py="$venv/bin/python"
OPENCD_COMMIT=790a1972b538baaaffd4c3022a4d9afaa3f861e5

[ -x "$py" ] || python3 -m venv "$venv"
pip_install() { "$py" -m pip install --no-cache-dir --disable-pip-version-check "$@"; }
if ! "$py" -c 'import torch, numpy; assert torch.__version__ >= "2.6" and numpy.__version__ >= "2"' 2>/dev/null; then
    pip_install torch==2.13.0 'numpy>=2' ninja wheel mmengine==0.10.7 \
        opencv-python-headless pytest
    # torch 2.13 declares setuptools>=70, mmcv 2.1.0's build needs <70.
    pip_install --no-deps 'setuptools<70'
fi
if ! "$py" -c 'import mmcv.ops' 2>/dev/null; then
    # separate cache (--no-cache-dir): never reuse the torch-2.1.2 build
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip_install --no-build-isolation mmcv==2.1.0
fi
"$py" -c 'import mmseg, mmdet, onnx, onnxruntime, rasterio' 2>/dev/null || pip_install \
    mmsegmentation==1.2.2 mmdet==3.3.0 ftfy regex scipy matplotlib prettytable tqdm \
    onnx onnxruntime rasterio
if ! "$py" -c 'import opencd' 2>/dev/null; then
    pip_install --no-deps "${OPENCD_SRC:-git+https://github.com/likyoo/open-cd.git@$OPENCD_COMMIT}"
fi
"$py" -m pip install --no-deps --no-build-isolation -e "$here" >/dev/null
"$py" -c 'import torch, numpy; print("modern env: torch", torch.__version__, "numpy", numpy.__version__)'
cd "$here"
"$py" -m pytest -q -p no:cacheprovider -m "not needs_torchvision" tests
