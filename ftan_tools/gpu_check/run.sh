# --run DIR OUT of tools/gpu_check.sh (sourced by main.sh): there, offline,
# install from DIR, check the imports, then the timed steps, each logged,
# and the summary in OUT.

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
    helper summary "$work" "$out" \
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
    use_python "${py:-${PYTHON:-python3}}"
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
        helper check-target "$dir" 2>&1 | tee -a "$out/gpu_check.log"
        [ "${PIPESTATUS[0]}" = 0 ] || die "the target cannot use $dir (above)"
        if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$mmcv_version')" 2>/dev/null; then
            command -v c++ >/dev/null || command -v g++ >/dev/null ||
                die "no C++ compiler (c++/g++) to build $mmcv"
        fi

        # ---- install, offline
        local specs=()
        mapfile -t specs < <(helper install-specs "$dir" "${pins[@]/#/--pin=}")
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
    run_step imports 180 "${helper_cmd[@]}" check-imports "${import_args[@]}"
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
            if run_step geotiff 60 "${helper_cmd[@]}" geotiff "$work/geo" --size $geo &&
                step_note="${geo}^2, batch $pbatch" run_step predict 90 \
                    "$PY" tools/predict.py "$config" "$ckpt" \
                    --img1 "$work/geo/t1.tif" --img2 "$work/geo/t2.tif" \
                    --out "$work/geo/change.tif" --device $pred_dev \
                    "${pred_amp[@]}" --batch-size $pbatch --no-progress; then
                helper predict-check "$work/geo/change.tif" \
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
