# The srun call of tools/slurm_train.sh, slurm_test.sh and slurm_predict.sh
# (sourced, not run): slurm_launch PARTITION JOB_NAME TOOL [TOOL_ARGS...]
#
# Environment (open-cd's names and defaults):
#   GPUS=4           processes (one per GPU) in all
#   GPUS_PER_NODE=4  GPUs and processes per node
#   CPUS_PER_TASK=5  CPUs per process
#   SRUN_ARGS=       more srun options, e.g. "--nodes=2 --time=4:00:00"
# CPU partitions: GPUS_PER_NODE=0 (or GPUS=0) asks for no GPU; then
#   NTASKS (default: GPUS, at least 1) processes, TASKS_PER_NODE (optional)
#   per node, gloo instead of NCCL, and OMP_NUM_THREADS=CPUS_PER_TASK
#   unless set.
# MASTER_PORT (default 29500): the rendezvous port; give each job on a node
# its own.
slurm_launch() {
    local partition=$1 job_name=$2 tool=$3
    shift 3
    local gpus=${GPUS:-4} gpus_per_node=${GPUS_PER_NODE:-4}
    local cpus_per_task=${CPUS_PER_TASK:-5}
    local -a placement
    if [ "$gpus" = 0 ] || [ "$gpus_per_node" = 0 ]; then
        local ntasks=${NTASKS:-$gpus}
        [ "$ntasks" = 0 ] && ntasks=1
        placement=(--ntasks="$ntasks")
        if [ -n "${TASKS_PER_NODE:-}" ]; then
            placement+=(--ntasks-per-node="$TASKS_PER_NODE")
        fi
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$cpus_per_task}
    else
        placement=(--gres=gpu:"$gpus_per_node" --ntasks="$gpus"
                   --ntasks-per-node="$gpus_per_node")
    fi
    local repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    set -x  # SRUN_ARGS unquoted below: a list of options
    PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" \
    srun -p "$partition" \
        --job-name="$job_name" \
        "${placement[@]}" \
        --cpus-per-task="$cpus_per_task" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PYTHON:-python3}" -u "$repo/tools/$tool" "$@"
}
