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
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper="$here/tools/gpu_check_helper.py"
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

# The size of what the device tool sends: tracked and untracked-not-ignored files.
tree_bytes() {
    git -C "$here" ls-files -co --exclude-standard -z |
        (cd "$here" && du -cb --files0-from=- 2>/dev/null) | tail -n 1 | cut -f1
}

# DIR inside the checkout must be ignored by git (else it travels twice and
# ends up in commits).
check_dir_ignored() {
    local dir abs rel
    dir=$1
    abs=$(realpath -m "$dir")
    case "$abs/" in
        "$here/")
            die "--prepare $dir: that is the checkout itself" ;;
        "$here/"*)
            rel=${abs#"$here"/}
            if ! git -C "$here" check-ignore -q "$rel/"; then
                die "--prepare $dir: $rel/ is inside the checkout and not ignored by git; run
    echo /$rel/ >> $(git -C "$here" rev-parse --git-path info/exclude)
and again (the device tool carries it with carry: [\"$rel\"])"
            fi ;;
    esac
    return 0
}

prepare() {
    local dir=$1 pyver=$2 full=$3
    [ -n "$dir" ] || die "--prepare needs DIR"
    PY=${PYTHON:-python3}
    check_dir_ignored "$dir"
    local mmengine mmseg mmdet mmpretrain mmcv setuptools opencd wheels opencd_wheel f
    mmengine=$(stack mmengine) && mmseg=$(stack mmsegmentation) &&
        mmdet=$(stack mmdet) && mmpretrain=$(stack mmpretrain) &&
        mmcv=$(stack mmcv) && setuptools=$(stack setuptools) &&
        opencd=$(stack opencd) || die "cannot read ftan_opencd/stack.txt"
    wheels=${FTAN_WHEELS:-$here/../shared/wheels}
    opencd_wheel=
    for f in "$wheels/opencd-${opencd#*==}-"*.whl; do
        [ -f "$f" ] && opencd_wheel=$f && break
    done
    [ -n "$opencd_wheel" ] || die "no wheel of $opencd in $wheels (open-cd is not on PyPI). Build one:
    pip wheel --no-deps -w $wheels \"git+$(stack opencd-git)@$(stack opencd-commit)\"
or point FTAN_WHEELS at a folder holding it"

    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    # a second --prepare replaces what the first wrote
    rm -f "$dir"/*.whl "$dir"/*.tar.gz "$dir"/*.zip "$dir/gpu_check_manifest.json"
    local tmp
    tmp=$(mktemp -d)
    prep_tmp=$tmp  # global: the EXIT trap runs after this function returned
    trap 'rm -rf "$prep_tmp"' EXIT
    printf '%s\n' "$mmengine" "$mmseg" "$mmdet" "$mmpretrain" "$setuptools" \
        "$opencd" > "$tmp/pins.txt"
    local reqs=() plat_args=() p
    mapfile -t reqs < <("$PY" "$helper" requirements --skip "$skip" \
        "$here/requirements/runtime.txt" "$here/requirements/optional.txt")
    for p in "${platforms[@]}"; do plat_args+=(--platform "$p"); done

    echo "[prepare] wheels for CPython $pyver, manylinux x86_64 -> $dir"
    echo "[prepare] $mmengine $mmseg $mmdet $mmpretrain $opencd $setuptools" \
        "wheel ninja + ${reqs[*]} and their dependencies"
    local start=$SECONDS
    "$PY" -m pip download --disable-pip-version-check --only-binary=:all: \
        --python-version "$pyver" --implementation cp "${plat_args[@]}" \
        -c "$tmp/pins.txt" -d "$tmp/dl" \
        "$mmengine" "$mmseg" "$mmdet" "$mmpretrain" "$opencd_wheel" \
        "$setuptools" wheel ninja packaging addict yapf Pillow "${reqs[@]}" \
        || die "pip download of the wheels failed"
    echo "[prepare] $mmcv sdist (compiled on the target)"
    "$PY" -m pip download --disable-pip-version-check --no-binary=:all: \
        --no-deps -d "$tmp/dl" "$mmcv" || die "pip download $mmcv failed"
    local cls_args=(--python-version "$pyver" --stack "mmcv=$mmcv" --skip "$skip")
    [ "$full" = 1 ] && cls_args+=(--full)
    for p in "${platforms[@]}"; do cls_args+=(--platform "$p"); done
    "$PY" "$helper" classify "$tmp/dl" "$dir" "${cls_args[@]}" ||
        die "sorting the downloads failed"
    echo "[prepare] done in $((SECONDS - start)) s"

    local dir_mib tree total
    dir_mib=$(du -sb "$dir" | cut -f1)
    echo "[prepare] $dir: $(ls "$dir" | wc -l) files, $((dir_mib / 1048576)) MiB ($dir_mib bytes)"
    case "$dir/" in
        "$here/"*)
            tree=$(tree_bytes)
            total=$((tree + dir_mib))
            echo "[prepare] working tree $((tree / 1024)) KiB + $(basename "$dir") = $((total / 1048576)) MiB of the device tool's $tree_limit_mib MiB"
            if [ "$total" -gt $((tree_limit_mib * 1048576)) ]; then
                die "over $tree_limit_mib MiB: the device tool would refuse it (drop --full?)"
            fi ;;
    esac
}

# ------------------------------------------------------------------ --run
say() { echo "[gpu_check $(date +%H:%M:%S) +$((SECONDS))s] $*" | tee -a "$out/gpu_check.log"; }

# is step NAME selected (--steps)?
want() { [ -z "$only_steps" ] || [[ ",$only_steps," == *",$1,"* ]]; }

# run_step NAME TIMEOUT CMD...: run CMD with a timeout (capped by the budget
# left), its output in $work/logs/NAME.log, a line in $work/steps.tsv.
run_step() {
    local name=$1 limit=$2 left t0 rc status dt
    shift 2
    left=$((deadline - SECONDS - reserve))
    if [ "$left" -lt 20 ]; then
        printf '%s\tskipped\t-1\t0\t0\tno budget left\n' "$name" >> "$work/steps.tsv"
        say "step $name: SKIPPED (budget spent)"
        return 1
    fi
    limit=$((limit * tscale))
    [ "$limit" -gt "$left" ] && limit=$left
    say "step $name (timeout ${limit}s): $*"
    t0=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$@" > "$work/logs/$name.log" 2>&1
    rc=$?
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0) status=ok ;;
        124|137) status=timeout ;;
        *) status=failed ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$dt" "$limit" \
        "${step_note:-}" >> "$work/steps.tsv"
    say "step $name: $status (rc $rc) in ${dt}s"
    if [ "$rc" -ne 0 ]; then
        tail -n 15 "$work/logs/$name.log" | sed 's/^/    | /' | tee -a "$out/gpu_check.log"
    fi
    return $rc
}

finish() {
    local code=$1
    "$PY" "$helper" summary "$work" "$out" \
        --setting "mode=$run_mode" --setting "budget_s=$budget" \
        --setting "python=$PY" --setting "wheel_dir=$dir" \
        --setting "work=$work" --setting "elapsed_s=$SECONDS" \
        >> "$out/gpu_check.log" 2>&1 || say "summary failed (see gpu_check.log)"
    local b
    for b in bench_ftan bench_zoo; do
        [ -f "$work/$b/benchmark.json" ] && cp "$work/$b/benchmark.json" "$out/$b.json"
    done
    # logs and small results only (no data, checkpoints or images): at most
    # 8 files come back from the device machine, so they travel as one archive
    (cd "$work" && find . -type f \( -name '*.log' -o -name '*.json' \
        -o -name '*.md' -o -name '*.tsv' -o -name '*.py' -o -name last_checkpoint \) \
        -size -4M -print0 | tar -czf "$out/logs.tar.gz" --null -T -) 2>/dev/null
    say "done (exit $code) in ${SECONDS}s: $(ls "$out" | tr '\n' ' ')"
    [ -f "$out/summary.md" ] && sed -n '1,40p' "$out/summary.md" | grep -v '^$' | head -n 30
    exit "$code"
}

run() {
    dir=$1 out=$2
    [ -n "$dir" ] && [ -n "$out" ] || die "--run needs DIR and OUT"
    PY=${py:-${PYTHON:-python3}}
    work=$(realpath -m "${work:-/tmp/ftan-gpu-check}")
    [ "$dir" = - ] || dir=$(realpath -m "$dir")
    [ -n "$budget" ] || { [ "$cpu_smoke" = 1 ] && budget=3600 || budget=540; }
    reserve=15
    # nproc honours OMP_NUM_THREADS; the build wants every core
    cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    tscale=1  # step timeouts are sized for the GPU machine; CPUs take longer
    [ "$cpu_smoke" = 1 ] && tscale=4
    SECONDS=0
    deadline=$budget
    mkdir -p "$out" || die "cannot create $out"
    out=$(cd "$out" && pwd)
    # the scratch folder is emptied: only one this script made before
    if [ -d "$work" ] && [ -n "$(ls -A "$work")" ] && [ ! -f "$work/.gpu_check_work" ]; then
        die "--work $work is not empty and not a scratch folder of this script"
    fi
    rm -rf "$work" && mkdir -p "$work/logs" && touch "$work/.gpu_check_work" ||
        die "cannot create $work"
    : > "$out/gpu_check.log"
    run_mode=gpu
    [ "$cpu_smoke" = 1 ] && run_mode=cpu-smoke
    [ "$check_only" = 1 ] && run_mode="$run_mode,check-only"
    cd "$here" || die "cannot enter $here"
    run_started=1
    # offline: pip reads no config file (no index, no find-links but DIR)
    export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONFIG_FILE=/dev/null \
        PIP_NO_INPUT=1 PYTHONUNBUFFERED=1
    unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
    say "mode $run_mode, python $PY, wheels $dir, out $out, work $work, budget ${budget}s, $cores cores"

    local mmcv mmcv_version pins=()
    mmcv=$(stack mmcv) || die "$PY cannot run ftan_opencd/env_check.py"
    mmcv_version=${mmcv#*==}
    pins=("$(stack mmengine)" "$(stack mmsegmentation)" "$(stack mmdet)" \
        "$(stack mmpretrain)" "$(stack opencd)" "$(stack setuptools)")

    # ---- checks that stop the run before anything is installed
    if [ "$skip_install" != 1 ] && [ ! -f "$dir/gpu_check_manifest.json" ]; then
        die "$dir/gpu_check_manifest.json missing: fill $dir first, where pip has network: bash tools/gpu_check.sh --prepare $dir"
    fi
    "$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch (the target brings its own torch)"
    if [ "$cpu_smoke" != 1 ]; then
        "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' ||
            die "torch.cuda.is_available() is False on $PY (use --cpu-smoke without a GPU)"
    fi
    if [ "$skip_install" != 1 ]; then
        "$PY" "$helper" check-target "$dir" 2>&1 | tee -a "$out/gpu_check.log"
        [ "${PIPESTATUS[0]}" = 0 ] || die "the target cannot use $dir (above)"
        if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$mmcv_version')" 2>/dev/null; then
            command -v c++ >/dev/null || command -v g++ >/dev/null ||
                die "no C++ compiler (c++/g++) to build $mmcv"
        fi

        # ---- install, offline
        local specs=()
        mapfile -t specs < <("$PY" "$helper" install-specs "$dir" "${pins[@]/#/--pin=}")
        step_note="${#specs[@]} wheels" run_step install 300 \
            "$PY" -m pip install --no-index --find-links "$dir" --no-deps "${specs[@]}" ||
            { say "installing the wheels failed"; finish 1; }
        # synthetic data needs no compiled code: generated while mmcv builds
        start_data_steps
        # --no-deps: its needs are installed above, and pip would follow
        # mmengine's opencv-python (the target has opencv-python-headless)
        if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$mmcv_version')" 2>/dev/null; then
            printf 'mmcv_build\tok\t0\t0\t0\t%s already installed with ops\n' "$mmcv" >> "$work/steps.tsv"
            say "$mmcv with ops already installed: no build"
        else
            CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$cores} \
                step_note="CPU ops, MAX_JOBS=${MAX_JOBS:-$cores}" run_step mmcv_build 900 \
                "$PY" -m pip install --no-index --find-links "$dir" --no-deps \
                --no-build-isolation "$mmcv" ||
                { wait; say "building $mmcv failed"; finish 1; }
        fi
        step_note="editable, no deps" run_step install_project 120 \
            "$PY" -m pip install --no-index --no-deps --no-build-isolation -e "$here" ||
            { wait; finish 1; }
    else
        printf 'install\tok\t0\t0\t0\t--skip-install\n' >> "$work/steps.tsv"
        start_data_steps
    fi

    local import_args=(--json "$work/imports.json" --mmcv-version "$mmcv_version")
    [ "$cpu_smoke" = 1 ] && import_args+=(--cpu)
    [ -n "$allow_missing" ] && import_args+=(--allow-missing "$allow_missing")
    run_step imports 180 "$PY" "$helper" check-imports "${import_args[@]}"
    local imports_rc=$?
    grep '^\[imports\]' "$work/logs/imports.log" | tee -a "$out/gpu_check.log"
    if [ "$imports_rc" -ne 0 ]; then
        wait
        say "import checks failed: stopping before the steps"
        finish 1
    fi
    if [ "$check_only" = 1 ]; then
        wait
        finish 0
    fi
    run_steps
    finish $?
}

# data (256^2 train/val) and data_test (larger test images, so that the
# test's sliding windows are real) in the background: numpy, OpenCV and
# mmengine only, while mmcv compiles
start_data_steps() {
    [ "$check_only" = 1 ] && return 0
    local size=256 ntrain=240 nval=24 tsize=1024 ntest=8
    if [ "$cpu_smoke" = 1 ]; then
        size=64 ntrain=4 nval=2 tsize=512 ntest=1
    fi
    # (train.py decodes the test split of its data root once before training)
    PYTHONPATH=$here run_step data 150 "$PY" tools/make_demo_data.py \
        --out "$work/data" --seed 0 --size $size --num-train $ntrain \
        --num-val $nval --num-test $ntest &
    PYTHONPATH=$here run_step data_test 150 "$PY" tools/make_demo_data.py \
        --out "$work/data_test" --seed 1 --size $tsize --num-train 0 \
        --num-val 0 --num-test $ntest &
}

run_steps() {
    wait  # the data steps
    local failed=0 device=cuda amp_bench=(--amp bf16) amp=(--amp) bench=(--batch 24)
    local iters=200 batch=24 workers=8 log_every=10 geo=2048 pbatch=16
    if [ "$cpu_smoke" = 1 ]; then
        device=cpu amp_bench=() amp=() bench=(--quick)
        iters=2 batch=2 workers=0 log_every=1 geo=512 pbatch=4
    fi
    local persistent=True
    [ "$workers" = 0 ] && persistent=False
    local loaders=(
        "train_dataloader.num_workers=$workers"
        "train_dataloader.persistent_workers=$persistent"
        "val_dataloader.num_workers=$((workers / 2))"
        "val_dataloader.persistent_workers=$persistent"
        "test_dataloader.num_workers=$((workers / 2))"
        "test_dataloader.persistent_workers=$persistent")

    # 1. FTAN-B speed and memory, fast vs reference pattern (the issue's
    #    GPU goals: pairs/s in bf16, 1024^2 time and memory, speed-up)
    if want bench_ftan; then
        run_step bench_ftan 150 "$PY" tools/benchmark.py --device $device \
            "${amp_bench[@]}" "${bench[@]}" --models ftan-b \
            --reference-model ftan-b --out "$work/bench_ftan" || failed=1
    fi
    # 2. training: AMP, batch 24, validation and a checkpoint at the end
    #    (val_interval/checkpoint.interval are rescaled by --iters: a huge
    #    value leaves only the end-of-training validation and checkpoint)
    if want train; then
        step_note="$iters iters, batch $batch ${amp[*]}" run_step train 200 \
            "$PY" tools/train.py "$config" --data-root "$work/data" \
            --iters $iters "${amp[@]}" --work-dir "$work/train" --cfg-options \
            train_dataloader.batch_size=$batch "${loaders[@]}" \
            default_hooks.logger.interval=$log_every \
            train_cfg.val_interval=1000000000 \
            default_hooks.checkpoint.interval=1000000000 randomness.seed=0 ||
            failed=1
        local ckpt=
        [ -f "$work/train/last_checkpoint" ] && ckpt=$(cat "$work/train/last_checkpoint")
        if [ -z "$ckpt" ] || [ ! -f "$ckpt" ]; then
            say "no checkpoint from the training: test and predict not run"
            printf '%s\tskipped\t-1\t0\t0\tno checkpoint\n' test predict >> "$work/steps.tsv"
            failed=1
        fi
    fi
    if [ -n "${ckpt:-}" ] && [ -f "$ckpt" ]; then
        # 3. test: the config's sliding 256^2 windows on the larger test images
        if want test; then
            run_step test 90 "$PY" tools/test.py "$config" "$ckpt" \
                --data-root "$work/data_test" --work-dir "$work/test" \
                --cfg-options "${loaders[@]}" || failed=1
        fi
        # 4. predict a GeoTIFF pair (the synthetic scene of
        #    tools/benchmark_predict_large.py) with the trained weights
        if want predict; then
            local pred_dev=cuda:0 pred_amp=(--amp)
            [ "$cpu_smoke" = 1 ] && pred_dev=cpu pred_amp=()
            if run_step geotiff 60 "$PY" "$helper" geotiff "$work/geo" --size $geo &&
                step_note="${geo}^2, batch $pbatch" run_step predict 90 \
                    "$PY" tools/predict.py "$config" "$ckpt" \
                    --img1 "$work/geo/t1.tif" --img2 "$work/geo/t2.tif" \
                    --out "$work/geo/change.tif" --device $pred_dev \
                    "${pred_amp[@]}" --batch-size $pbatch --no-progress; then
                "$PY" "$helper" predict-check "$work/geo/change.tif" \
                    "$work/geo/t1.tif" >> "$work/logs/predict.log" 2>&1 || failed=1
            else
                failed=1
            fi
        fi
    fi
    # 5. the other models (zoo models: open-cd configs, random weights)
    if want bench_zoo; then
        run_step bench_zoo 150 "$PY" tools/benchmark.py --device $device \
            "${amp_bench[@]}" "${bench[@]}" --models "${zoo_models[@]}" \
            --no-reference --baseline ftan-t --out "$work/bench_zoo" || failed=1
    fi
    return $failed
}

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
