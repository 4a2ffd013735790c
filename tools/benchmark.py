"""Benchmark FTAN against open-cd models: speed, memory, FLOPs, learning.

Speed / memory / complexity (each model in its own process), plus FTAN-B's
reference compute pattern vs the fast one on the same weights:

    python tools/benchmark.py [--models ftan-t ftan-s ...] [--device cpu]
        [--amp [fp16|bf16]] [--repeats 3] [--warmup 1] [--batch 2] [--size 256]
        [--large 1024] [--large-repeats N] [--large-warmup N]
        [--reference-size 512] [--reference-model ftan-b] [--no-reference]
        [--baseline ftan-b] [--threads N] [--seed 0]
        [--out work_dirs/benchmark] [--quick]

Profile of one model's training step (top 15 operators by self time):

    python tools/benchmark.py --profile [ftan-b] [--batch 2] [--size 256]

Learning comparison (one seeded recipe, configs/benchmark/learn/*.py) on
the synthetic data (python tools/make_demo_data.py) or any LEVIR-CD layout
folder, with extra FTAN models from their configs:

    python tools/benchmark.py learn [--models ftan-t ...] [--config CFG.py]
        [--iters 300] [--batch 8] [--data-root data/demo-cd]
        [--val-root DIR | --no-val] [--test-root DIR] [--out work_dirs/learn]
        [--seed 0 | --seeds 0 1 2]

--seeds trains every model once per seed (work dirs OUT/<model>/seed_<s>)
and reports mean ± sample std of the test metrics per model; learning.json
keeps each seed's result.
"""
import argparse
import shlex
import sys

import torch

from ftan_tools.benchmark.learning import run_learning
from ftan_tools.benchmark.precision import run_precision
from ftan_tools.benchmark.profiling import profile_train_step
from ftan_tools.benchmark.runner import run_benchmark
from ftan_tools.benchmark.zoo import (BASELINE, DEFAULT_MODELS, MODEL_NAMES,
                                      add_configs_argument, use_configs)
from ftan_opencd.errors import exit_on_user_error

LEARN_MODELS = ('ftan-t', 'ftan-s', 'changeformer-mit-b0', 'bit-r18',
                'fc-siam-diff')
# --quick: tiny inputs and a single timed run, for tests and smoke checks.
QUICK = dict(size=64, large=128, reference_size=96, batch=2, repeats=1,
             warmup=0)


def benchmark_parser() -> argparse.ArgumentParser:
    """Options of the speed / memory / complexity benchmark."""
    parser = argparse.ArgumentParser(
        description='Speed, memory and FLOPs of FTAN and open-cd models',
        epilog='Subcommand: "tools/benchmark.py learn -h" for the learning '
        'comparison.')
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                        choices=sorted(MODEL_NAMES), metavar='MODEL',
                        help=f'models (default: all: {list(DEFAULT_MODELS)})')
    add_configs_argument(parser)
    parser.add_argument('--device', default='cpu',
                        help='cpu or cuda[:N] (default: %(default)s)')
    parser.add_argument('--amp', nargs='?', const='auto', default=None,
                        choices=['auto', 'fp16', 'bf16'],
                        help='autocast; "--amp" alone: float16 on CUDA, '
                        'bfloat16 on CPU; "--amp bf16" / "--amp fp16" pick '
                        'the dtype')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs, the median is reported')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed runs before the timed ones')
    parser.add_argument('--batch', type=int, default=2,
                        help='batch of the training step')
    parser.add_argument('--size', type=int, default=256,
                        help='side of the training / inference / FLOPs input')
    parser.add_argument('--large', type=int, default=1024,
                        help='side of the whole-image inference input')
    parser.add_argument('--large-repeats', type=int, default=None,
                        help='timed runs at --large (default: 1 on CPU, '
                        'where one run takes minutes, else --repeats)')
    parser.add_argument('--large-warmup', type=int, default=None,
                        help='warm-up runs at --large (default: 0 on CPU, '
                        'else --warmup)')
    parser.add_argument('--reference-size', type=int, default=512,
                        help='extra inference size of the reference '
                        'comparison, where the reference fits in memory')
    parser.add_argument('--reference-model', default=BASELINE,
                        choices=[m for m in MODEL_NAMES if 'ftan' in m],
                        help='FTAN model of the reference-pattern comparison')
    parser.add_argument('--baseline', default=BASELINE,
                        choices=sorted(MODEL_NAMES), metavar='MODEL',
                        help='model the ratios are relative to '
                        '(default: %(default)s)')
    parser.add_argument('--no-reference', dest='reference',
                        action='store_false',
                        help='skip the reference-pattern comparison')
    parser.add_argument('--profile', nargs='?', const=BASELINE, default=None,
                        choices=sorted(MODEL_NAMES), metavar='MODEL',
                        help='only profile the training step of MODEL '
                        f'(default {BASELINE}) with torch.profiler')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads of each measuring process '
                        '(default: torch\'s, one per core); 1 is steadier '
                        'on a machine shared with other jobs')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights and inputs')
    parser.add_argument('--out', default='work_dirs/benchmark',
                        help='output folder (default: %(default)s)')
    parser.add_argument('--quick', action='store_true',
                        help=f'tiny settings for smoke tests: {QUICK} '
                        '(explicit options still win)')
    return parser


def learn_parser() -> argparse.ArgumentParser:
    """Options of the learning comparison (``learn`` subcommand)."""
    parser = argparse.ArgumentParser(
        prog='tools/benchmark.py learn',
        description='Train several models with one seeded recipe '
        '(configs/benchmark/learn/<model>.py) and compare change F1 / IoU '
        'of their final weights on a test split')
    parser.add_argument('--models', nargs='*', default=list(LEARN_MODELS),
                        choices=sorted(MODEL_NAMES), metavar='MODEL',
                        help=f'zoo models (default: {list(LEARN_MODELS)}; '
                        'none: only the --config models)')
    parser.add_argument('--config', action='append', metavar='CFG.py',
                        help='an extra model: the model of this config (any '
                        'FTAN config, e.g. configs/demo/ftan-tiny_128x128_'
                        'demo-cd_cpu.py) on the same recipe, named after '
                        'the file; repeatable')
    add_configs_argument(parser)
    parser.add_argument('--data-root', default='data/demo-cd',
                        help='folder in LEVIR-CD layout: DIR/train/{A,B,'
                        'label}, and DIR/val, DIR/test unless --val-root / '
                        '--test-root (default: %(default)s)')
    parser.add_argument('--val-root', metavar='DIR',
                        help='validation split: DIR/val/{A,B,label} or '
                        'DIR/{A,B,label} (default: DATA_ROOT/val when it '
                        'exists, else no validation)')
    parser.add_argument('--no-val', action='store_true',
                        help='no validation at the end of training')
    parser.add_argument('--test-root', metavar='DIR',
                        help='test split: DIR/test/{A,B,label} or '
                        'DIR/{A,B,label} (default: DATA_ROOT/test)')
    parser.add_argument('--iters', type=int, default=300,
                        help='training iterations of every model')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--lr', type=float, default=1e-3,
                        help='AdamW learning rate of every model')
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument('--seed', type=int, default=0,
                       help='seed of the single run (default: %(default)s)')
    seeds.add_argument('--seeds', type=int, nargs='+', metavar='SEED',
                       help='one run per model and seed, each in '
                       'OUT/<model>/seed_<SEED>; the report gives mean ± '
                       'std over the seeds and every seed\'s result')
    parser.add_argument('--test-images', type=int, default=None,
                        help='test on the first N test images only')
    parser.add_argument('--out', default='work_dirs/learn')
    return parser


def precision_parser() -> argparse.ArgumentParser:
    """Options of ``tools/benchmark.py precision`` (float32 vs bf16)."""
    parser = argparse.ArgumentParser(
        prog='tools/benchmark.py precision',
        description='float32 and bfloat16 training step and inference of '
        'one model, timed in alternation in one process')
    parser.add_argument('--model', default='ftan-b',
                        choices=[m for m in MODEL_NAMES if 'ftan' in m])
    add_configs_argument(parser)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=256,
                        help='training crop side')
    parser.add_argument('--large', type=int, default=1024,
                        help='whole-image inference side')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3,
                        help='interleaved rounds of training steps')
    parser.add_argument('--large-repeats', type=int, default=2,
                        help='interleaved rounds of inference')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='work_dirs/precision')
    return parser


def parse_benchmark_args(argv):
    """Parse the benchmark options, with --quick's defaults if given."""
    parser = benchmark_parser()
    if '--quick' in argv:
        parser.set_defaults(**QUICK)
    return parser.parse_args(argv)


def learn_main(argv, command: str):
    """The ``learn`` subcommand.

    Args:
        argv (list[str]): Its options (after ``learn``).
        command (str): The whole command line, for the report.

    Returns:
        dict: The report of :func:`run_learning`.
    """
    parser = learn_parser()
    args = parser.parse_args(argv)
    if args.seeds and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds {" ".join(map(str, args.seeds))}: a seed '
                     'repeats; give each seed once')
    use_configs(args)
    return run_learning(args, command)


@exit_on_user_error
def main(argv=None):
    """Dispatch to the benchmark, the profiler or the learning comparison."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join(['python tools/benchmark.py', shlex.join(argv)]).strip()
    if argv[:1] == ['learn']:
        return learn_main(argv[1:], command)
    if argv[:1] == ['precision']:
        args = precision_parser().parse_args(argv[1:])
        use_configs(args)
        return run_precision(args, command)
    args = parse_benchmark_args(argv)
    use_configs(args)
    if args.profile:
        if args.threads:
            torch.set_num_threads(args.threads)
        return profile_train_step(args.profile, args.batch, args.size,
                                  args.device, args.amp, args.warmup,
                                  args.repeats, args.out)
    return run_benchmark(args, command)


if __name__ == '__main__':
    main()
