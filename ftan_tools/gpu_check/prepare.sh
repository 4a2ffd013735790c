# --prepare DIR of tools/gpu_check.sh (sourced by main.sh): here, with
# network to PyPI, fill the wheel folder for the offline GPU machine and
# check that it travels within the device tool's limit.

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
    use_python "${PYTHON:-python3}"
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
    mapfile -t reqs < <(helper requirements --skip "$skip" \
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
    helper classify "$tmp/dl" "$dir" "${cls_args[@]}" ||
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
