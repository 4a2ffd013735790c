#!/usr/bin/env bash
# Body of tools/gpu_check.sh, the offline GPU run (see that file and
# --help): settings, options, and the helpers both modes share; --prepare
# is in prepare.sh, --run in run.sh beside this file. The Python commands
# are ftan_tools/gpu_check (python -m ftan_tools.gpu_check COMMAND).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
config=configs/ftan/ftan-b_256x256_200e_levircd.py
# manylinux tags of the target: the GPU machine's torch wheel itself needs
# glibc >= 2.28, so wheels up to manylinux_2_28 run there.
platforms=(manylinux1_x86_64 manylinux2010_x86_64 manylinux2014_x86_64
    manylinux_2_17_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64
    manylinux_2_28_x86_64)
zoo_models=(ftan-t ftan-s changeformer-v6 changeformer-mit-b0 bit-r18)
# --prepare leaves out (--skip): pyogrio writes the polygons of
# tools/predict.py --vector, which the run does not use (31 MiB: GDAL again)
skip_default=pyogrio
tree_limit_mib=64

usage() {
    cat <<'EOF'
Usage:
  bash tools/gpu_check.sh --prepare DIR [--python-version X.Y] [--full] [--skip N,N]
      Here, with network to PyPI: fill DIR with the wheels of the stack
      (mmengine, mmsegmentation, mmdet, mmpretrain, open-cd, their
      dependencies, rasterio, ...) for CPython X.Y (default 3.12) on
      manylinux x86_64, the mmcv sdist and its build tools (setuptools of
      the stack file, wheel, ninja). Never torch, torchvision, numpy,
      OpenCV or nvidia-* (the target has its own). Default (lean): also
      leaves out scipy, matplotlib and the other packages the device
      image carries, to stay under the device tool's 64 MiB; --full
      bundles them. --skip: distributions the run does not need, left
      out too (default: pyogrio; --skip '' keeps all). DIR inside the
      checkout must be ignored by git.
      Prints the size of DIR and of the working tree.
  bash tools/gpu_check.sh --run DIR OUT [options]
      There, offline: install from DIR into the target Python (pip
      --no-index), compile mmcv (CPU ops, MAX_JOBS = all cores), pip
      install -e ., check the imports (stops here on a failure), then the
      timed steps, each logged: synthetic data, FTAN-B benchmark with the
      reference pattern, 200 AMP training iterations at batch 24, test
      (sliding windows), predict on a 2048^2 GeoTIFF pair, benchmark of
      FTAN-T/S and zoo models. Writes to OUT: summary.json, summary.md,
      gpu_check.log, bench_ftan.json, bench_zoo.json, logs.tar.gz.
    --check-only       install and check the imports, no steps
    --cpu-smoke        no GPU: tiny CPU versions of the steps (64 px data,
                       2 iterations, no AMP, --quick benchmarks)
    --python PY        target Python (default: $PYTHON or python3)
    --work DIR         scratch folder (default: /tmp/ftan-gpu-check); data,
                       checkpoints and GeoTIFFs stay there, not in OUT
    --budget S         wall-clock budget of the whole run in seconds
                       (default 540; 3600 with --cpu-smoke); a step gets at
                       most what is left, and is skipped below 20 s
    --skip-install     use the target Python as it is (DIR is not read)
    --allow-missing M,M  report these imports but do not stop on them
    --steps S,S        only these of bench_ftan,train,test,predict,bench_zoo
                       (test and predict need train)
  bash tools/gpu_check.sh --help
EOF
}

die() {
    echo "[gpu_check] ERROR: $*" >&2
    # during --run: also in the log, and a summary that says where it stopped
    if [ -n "${run_started:-}" ]; then
        run_started=
        echo "[gpu_check] ERROR: $*" >> "$out/gpu_check.log"
        printf 'precheck\tfailed\t1\t%s\t0\t%s\n' "$SECONDS" "$(echo "$*" | head -n 1)" >> "$work/steps.tsv"
        finish 1
    fi
    exit 1
}
# a requirement line (mmcv==...) or setting of the stack file; standard library only
stack() { "$PY" "$here/ftan_opencd/env_check.py" --get "$@"; }

# use_python PY: the target Python, and the command line of the Python
# helpers with the checkout first on the path (they run before the
# project is installed)
use_python() {
    PY=$1
    helper_cmd=(env "PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m ftan_tools.gpu_check)
}
helper() { "${helper_cmd[@]}" "$@"; }

# shellcheck source=ftan_tools/gpu_check/prepare.sh
. "$here/ftan_tools/gpu_check/prepare.sh"
# shellcheck source=ftan_tools/gpu_check/run.sh
. "$here/ftan_tools/gpu_check/run.sh"

# ------------------------------------------------------------------ main
mode= dir= out= pyver=3.12 full=0 check_only=0 cpu_smoke=0 py= work= budget=
skip_install=0 allow_missing= only_steps= skip=$skip_default
[ $# -gt 0 ] || { usage; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --prepare) mode=prepare; dir=${2:-}; shift ;;
        --run) mode=run; dir=${2:-}; out=${3:-}; shift 2 ;;
        --dry-run|--check-only) check_only=1 ;;
        --cpu-smoke) cpu_smoke=1 ;;
        --python-version) pyver=${2:?}; shift ;;
        --full) full=1 ;;
        --skip) skip=${2?}; shift ;;
        --python) py=${2:?}; shift ;;
        --work) work=${2:?}; shift ;;
        --budget) budget=${2:?}; shift ;;
        --skip-install) skip_install=1 ;;
        --allow-missing) allow_missing=${2:?}; shift ;;
        --steps) only_steps=${2:?}; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
case $mode in
    prepare) prepare "$dir" "$pyver" "$full" ;;
    run) run "$dir" "$out" ;;
    *) usage >&2; exit 2 ;;
esac
