# Where open-cd (not on PyPI) is installed from; sourced by install_deps.sh
# and test_modern.sh. Needs: WHEELS (a wheel folder) and get() (a stack
# setting, see ftan_opencd/env_check.py --get). Sets opencd_spec,
# opencd_from (for messages) and opencd_args (for pip install):
# $OPENCD_SRC, else a wheel of the pinned version in $WHEELS, else git.
opencd_spec=$(get opencd)
opencd_wheel=
for f in "$WHEELS/opencd-${opencd_spec#*==}-"*.whl; do
    [ -f "$f" ] && opencd_wheel=$f && break
done
if [ -n "${OPENCD_SRC:-}" ]; then
    opencd_from=$OPENCD_SRC
    opencd_args=(--no-deps "$OPENCD_SRC")
elif [ -n "$opencd_wheel" ]; then
    opencd_from=$opencd_wheel
    opencd_args=(--no-deps --no-index --find-links "$WHEELS" "$opencd_spec")
else
    opencd_from=git+$(get opencd-git)@$(get opencd-commit)
    opencd_args=(--no-deps "$opencd_from")
fi
