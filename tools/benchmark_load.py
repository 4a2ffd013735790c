"""Load test of tools/predict.py: memory, descriptors, temporary files and
throughput over many pairs and on large scenes.

    python tools/benchmark_load.py [--counts 100 1000] [--scenes 2048 10000]
        [--pair-size 128] [--config CONFIG] [--timeout S]
        [--work-dir DIR] [--out load.json] [--predict-options ...]

Runs ``python tools/predict.py`` (one process per run, one run at a time,
``OMP_NUM_THREADS=1`` unless set) over folders of ``counts`` synthetic
pairs and on square GeoTIFF scenes of the ``scenes`` sides, with the
config's random weights, and prints per run: peak resident memory, the
memory when every 100 pairs were done, the descriptors open at the end,
files left in TMPDIR and the output folder, and the seconds per block of
100 pairs (see ftan_tools/benchmark/load.py).
"""
import argparse
import json
import shutil
import sys
import tempfile

from ftan_opencd.errors import exit_on_user_error
from ftan_opencd.utils.user_errors import check_config_path
from ftan_tools.benchmark.load import DEMO_CONFIG, markdown, run_load


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--counts', type=int, nargs='*', default=[100, 1000],
                        help='pairs per folder run (default: 100 1000)')
    parser.add_argument('--scenes', type=int, nargs='*',
                        default=[2048, 10000],
                        help='sides of the scene runs (default: 2048 10000)')
    parser.add_argument('--pair-size', type=int, default=128,
                        help='side of the small pairs (default: 128)')
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='model config (default: the CPU demo FTAN)')
    parser.add_argument('--timeout', type=float, default=None,
                        help='stop a run after S seconds (partial figures)')
    parser.add_argument('--work-dir', default=None,
                        help='folder of the inputs and outputs (kept; '
                        'default: a temporary folder, removed)')
    parser.add_argument('--out', default=None,
                        help='also write the figures to this JSON file')
    parser.add_argument('--predict-options', nargs=argparse.REMAINDER,
                        default=[], help='more tools/predict.py options '
                        '(the rest of the command line)')
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.counts + args.scenes) or args.pair_size < 32:
        parser.error('--counts and --scenes must be >= 1, --pair-size >= 32')
    return args


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    check_config_path(args.config, '--config')
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='ftan_load_')
    try:
        results = run_load(work_dir, args.counts, args.scenes,
                           args.pair_size, args.config, args.predict_options,
                           args.timeout)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    print(markdown(results))
    return 0 if all(r['complete'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
