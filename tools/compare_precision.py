"""Agreement of bfloat16 (``--amp``) and float32 inference on a test split.

    python tools/compare_precision.py CONFIG CHECKPOINT --data-root DIR \
        [--split test] [--window 256] [--device cpu]

Predicts every pair of ``DIR/<split>/{A,B}`` with and without autocast
(:class:`ftan_opencd.apis.FTANInferencer`, ``amp=True``) and prints the share
of pixels whose change mask agrees, and the change F1 of both against
``DIR/<split>/label``. Exit status 1 when autocast is not native here.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np

from ftan_opencd.apis import FTANInferencer, WindowOptions
from ftan_opencd.apis.folders import pair_folders
from ftan_opencd.pixels import load_label
from ftan_opencd.cli import add_trust_argument
from ftan_opencd.utils.precision import amp_dtype, describe_amp
from ftan_opencd.errors import exit_on_user_error
from ftan_opencd.utils.user_errors import check_tool_paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data-root', required=True,
                        help='LEVIR-CD layout root')
    parser.add_argument('--split', default='test')
    parser.add_argument('--window', type=int,
                        default=WindowOptions().window)
    parser.add_argument('--device', default='cpu')
    add_trust_argument(parser)
    return parser.parse_args(argv)


def f1(tp: int, fp: int, fn: int) -> float:
    return 100.0 * 2 * tp / max(2 * tp + fp + fn, 1)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    # wrong arguments first, whatever this CPU can do
    check_tool_paths(args.config, args.checkpoint)
    split = osp.join(args.data_root, args.split)
    names, _, _ = pair_folders(osp.join(split, 'A'), osp.join(split, 'B'))
    print(describe_amp(args.device))
    if amp_dtype(args.device) is None:
        return 1
    inferencer = FTANInferencer(
        args.config, args.checkpoint, args.device,
        trust_checkpoint=args.trust_checkpoint or None,
        window=WindowOptions(args.window, stride=args.window),
        progress=False)
    agree = total = 0
    counts = {False: np.zeros(3, np.int64), True: np.zeros(3, np.int64)}
    seconds = {False: 0.0, True: 0.0}
    for name in names:
        pair = [osp.join(split, d, name) for d in ('A', 'B')]
        label = load_label(osp.join(split, 'label', name)) == 1
        masks = {}
        for amp in (False, True):
            start = time.perf_counter()
            masks[amp] = inferencer(*pair, amp=amp) == 1
            seconds[amp] += time.perf_counter() - start
            counts[amp] += [(masks[amp] & label).sum(),
                            (masks[amp] & ~label).sum(),
                            (~masks[amp] & label).sum()]
        agree += int((masks[False] == masks[True]).sum())
        total += label.size
    print(f'{len(names)} pairs of {split}: the bf16 and float32 masks agree '
          f'on {100.0 * agree / total:.3f} % of {total} pixels')
    for amp, name in ((False, 'float32'), (True, 'bf16')):
        print(f'{name:8s} change F1 {f1(*counts[amp]):.2f}  '
              f'({seconds[amp]:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
