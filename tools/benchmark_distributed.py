"""1 vs 2 processes of tools/predict.py on a folder of pairs and one scene.

    python tools/benchmark_distributed.py [--pairs 64] [--pair-size 256]
        [--scene 4096] [--procs 1 2] [--config CONFIG] [--window 256]
        [--work-dir DIR] [--port 29650] [--repeat 3]

Runs each workload in 1 process and with tools/dist_predict.sh (torchrun)
with N processes, one thread each, one run at a time, the process counts
in turn for --repeat rounds, and prints the median wall time, pairs or
windows per second, the speed-up over the first process count and the peak
resident memory of every rank (see ftan_tools/benchmark/distributed.py).
"""
import argparse
import shutil
import sys
import tempfile

from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_config_path
from ftan_tools.benchmark.distributed import markdown, run_distributed
from ftan_tools.benchmark.load import DEMO_CONFIG


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pairs', type=int, default=64,
                        help='pairs in the folder (0: no folder run)')
    parser.add_argument('--pair-size', type=int, default=256)
    parser.add_argument('--scene', type=int, default=4096,
                        help='side of the scene (0: no scene run)')
    parser.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='model config (default: the CPU demo FTAN)')
    parser.add_argument('--window', type=int, default=256)
    parser.add_argument('--work-dir', default=None,
                        help='folder of the inputs and outputs (kept; '
                        'default: a temporary folder, removed)')
    parser.add_argument('--port', type=int, default=29650,
                        help="torchrun's rendezvous port")
    parser.add_argument('--repeat', type=int, default=3,
                        help='rounds (the median wall time is reported)')
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    check_config_path(args.config, '--config')
    if min(args.procs) < 1 or args.repeat < 1 or min(args.pairs,
                                                     args.scene) < 0:
        raise UserError('--procs and --repeat must be >= 1, --pairs and '
                        '--scene >= 0')
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='ftan_dist_')
    try:
        rows = run_distributed(work_dir, args.pairs, args.pair_size,
                               args.scene, args.procs, args.config,
                               args.window, args.port, args.repeat)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(markdown(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
