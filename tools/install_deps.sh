#!/usr/bin/env bash
# Install the whole stack FTAN-OpenCD is tested against into the current Python,
# then the project itself (editable). Idempotent: when everything is already
# importable at the right versions, it installs nothing. The versions and the
# open-cd commit come from ftan_opencd/stack.txt (the one place they are written).
#
#   bash tools/install_deps.sh               # CPU machine (this project's CI)
#   FTAN_WHEELS=/path/to/wheels bash tools/install_deps.sh
#   bash tools/install_deps.sh --print-pins  # what it would install, and from where
#
# Environment:
#   PYTHON         Python to install into (default: python3)
#   FTAN_WHEELS    folder of prebuilt wheels (default: ../shared/wheels, used when
#                  present): mmcv there saves a ~23 min source build (only for the
#                  torch that wheel was built against), and open-cd, which is not
#                  on PyPI, installs offline from there.
#   OPENCD_SRC     open-cd to install when it is not importable (a local clone or
#                  any pip source); overrides the wheel folder and the git URL.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=${FTAN_WHEELS:-$here/../shared/wheels}
stack="$here/ftan_opencd/stack.txt"
# requirement line (mmcv==...) or setting of the stack file; standard library only
get() { "$PY" "$here/ftan_opencd/env_check.py" --get "$1"; }

torch_spec=$(get torch)
torchvision_spec=$(get torchvision)
setuptools_spec=$(get setuptools)
mmengine_spec=$(get mmengine)
mmcv_spec=$(get mmcv)
mm_specs=("$(get mmsegmentation)" "$(get mmdet)" "$(get mmpretrain)")
opencd_git=$(get opencd-git)
opencd_commit=$(get opencd-commit)
mmcv_wheel_torch=$(get mmcv-wheel-torch)
# shellcheck source=tools/opencd_source.sh
. "$here/tools/opencd_source.sh"

if [ "${1:-}" = --print-pins ]; then
    printf '%s\n' "constraints: $stack" "$torch_spec" "$torchvision_spec" \
        "$setuptools_spec" "$mmengine_spec" "$mmcv_spec" "${mm_specs[@]}" \
        "$opencd_spec" "mmcv-wheel-torch: $mmcv_wheel_torch" \
        "opencd-from: $opencd_from"
    exit 0
fi

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

echo "[install] $torch_spec, $torchvision_spec and base packages"
pip_install -c "$stack" "$torch_spec" "$torchvision_spec" \
    -r "$here/requirements/runtime.txt" -r "$here/requirements/tests.txt"

echo "[install] $mmengine_spec and $mmcv_spec with ops"
pip_install -c "$stack" "$setuptools_spec" ninja wheel "$mmengine_spec"
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '${mmcv_spec#*==}'" 2>/dev/null; then
    torch_version=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
    # The shared wheel is ABI-tied to one torch; any other torch compiles.
    if [ ${#find_links[@]} -gt 0 ] && [ "$torch_version" = "$mmcv_wheel_torch" ] && \
            pip_install --no-deps --no-index "${find_links[@]}" "$mmcv_spec"; then
        pip_install -c "$stack" addict packaging Pillow pyyaml yapf
    else
        echo "[install] no prebuilt mmcv wheel for torch $torch_version: compiling $mmcv_spec (CPU ops, ~25 min)"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            pip_install --no-build-isolation -c "$stack" "$mmcv_spec"
    fi
fi

echo "[install] ${mm_specs[*]}"
pip_install -c "$stack" "${mm_specs[@]}"

if "$PY" -c 'import opencd' 2>/dev/null; then
    echo "[install] open-cd already importable: kept ($("$PY" -c 'import opencd; print(opencd.__file__)'))"
else
    echo "[install] open-cd from $opencd_from"
    if ! pip_install "${opencd_args[@]}"; then
        cat >&2 <<MSG
[install] ERROR: could not install open-cd from $opencd_from.
open-cd is not on PyPI. Install it from a local clone, then rerun this script:
    git clone $opencd_git /path/to/open-cd
    git -C /path/to/open-cd checkout $opencd_commit
    $PY -m pip install --no-deps -e /path/to/open-cd
or point this script at the clone: OPENCD_SRC=/path/to/open-cd bash tools/install_deps.sh
or at a folder holding its wheel ($opencd_spec): FTAN_WHEELS=/path/to/wheels bash tools/install_deps.sh
MSG
        exit 1
    fi
fi

echo "[install] ftan-opencd (editable)"
pip_install --no-deps --no-build-isolation -e "$here"
"$PY" "$here/tools/check_env.py"
