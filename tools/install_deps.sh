#!/usr/bin/env bash
# Install the whole stack FTAN-OpenCD is tested against into the current Python,
# then the project itself (editable). Idempotent: when everything is already
# importable at the right versions, it installs nothing.
#
#   bash tools/install_deps.sh            # CPU machine (this project's CI)
#   FTAN_WHEELS=/path/to/wheels bash tools/install_deps.sh
#
# Environment:
#   PYTHON         Python to install into (default: python3)
#   FTAN_WHEELS    extra folder of wheels (default: ../shared/wheels when present);
#                  a prebuilt mmcv 2.1.0 there saves a ~23 min source build.
#   OPENCD_SRC     local open-cd clone to install when open-cd is not importable
#                  (default: the upstream git URL at the pinned commit).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OPENCD_COMMIT=790a1972b538baaaffd4c3022a4d9afaa3f861e5
OPENCD_URL=https://github.com/likyoo/open-cd.git
WHEELS=${FTAN_WHEELS:-$here/../shared/wheels}

if "$PY" "$here/tools/check_env.py" --quiet 2>/dev/null; then
    echo "[install] all requirements already satisfied; nothing to install."
    exit 0
fi

pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }
find_links=()
if [ -d "$WHEELS" ]; then
    find_links=(--find-links "$WHEELS")
    echo "[install] using extra wheels from $WHEELS"
fi
constraints="$here/requirements/constraints.txt"

echo "[install] torch, torchvision and base packages"
pip_install -c "$constraints" torch==2.1.2 torchvision==0.16.2 \
    -r "$here/requirements/runtime.txt" -r "$here/requirements/tests.txt"

echo "[install] mmengine and mmcv 2.1.0 with ops"
pip_install -c "$constraints" 'setuptools<70' ninja wheel mmengine==0.10.7
if ! "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
    torch_version=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
    # The shared wheel is ABI-tied to torch 2.1.2; any other torch compiles.
    if [ ${#find_links[@]} -gt 0 ] && [ "$torch_version" = 2.1.2 ] && \
            pip_install --no-deps --no-index "${find_links[@]}" mmcv==2.1.0; then
        pip_install -c "$constraints" addict packaging Pillow pyyaml yapf
    else
        echo "[install] no prebuilt mmcv wheel for torch $torch_version: compiling mmcv 2.1.0 (CPU ops, ~25 min)"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            pip_install --no-build-isolation -c "$constraints" mmcv==2.1.0
    fi
fi

echo "[install] mmsegmentation, mmdet, mmpretrain"
pip_install -c "$constraints" mmsegmentation==1.2.2 mmdet==3.3.0 mmpretrain==1.2.0

if "$PY" -c 'import opencd' 2>/dev/null; then
    echo "[install] open-cd already importable: kept ($("$PY" -c 'import opencd; print(opencd.__file__)'))"
else
    src=${OPENCD_SRC:-git+$OPENCD_URL@$OPENCD_COMMIT}
    echo "[install] open-cd from $src"
    if ! pip_install --no-deps "$src"; then
        cat >&2 <<EOF
[install] ERROR: could not install open-cd from $src.
open-cd is not on PyPI. Install it from a local clone, then rerun this script:
    git clone $OPENCD_URL /path/to/open-cd
    git -C /path/to/open-cd checkout $OPENCD_COMMIT
    $PY -m pip install --no-deps -e /path/to/open-cd
or point this script at the clone: OPENCD_SRC=/path/to/open-cd bash tools/install_deps.sh
EOF
        exit 1
    fi
fi

echo "[install] ftan-opencd (editable)"
pip_install --no-deps --no-build-isolation -e "$here"
"$PY" "$here/tools/check_env.py"
