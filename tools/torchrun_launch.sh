# The torchrun call of tools/dist_train.sh, dist_test.sh and dist_predict.sh
# (sourced, not run): torchrun_launch NUM_PROCS TOOL [TOOL_ARGS...]
#
# Environment (open-cd's names and defaults):
#   NNODES=1             machines
#   NODE_RANK=0          this machine's index, 0 .. NNODES-1
#   MASTER_ADDR=127.0.0.1  address of machine 0, reachable from all
#   PORT=29500           rendezvous port on machine 0 (one per job)
#   MONITOR_INTERVAL=0.1 seconds between torchrun's checks of its workers:
#                        torch < 2.4 checks every 5 s, so every job ended
#                        up to 5 s after its last worker (pytorch#124692)
torchrun_launch() {
    local nproc=$1 tool=$2
    shift 2
    "${PYTHON:-python3}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nproc" \
        --master_port="${PORT:-29500}" \
        --monitor-interval="${MONITOR_INTERVAL:-0.1}" \
        "$(dirname "${BASH_SOURCE[0]}")/$tool" "$@" --launcher pytorch
}
