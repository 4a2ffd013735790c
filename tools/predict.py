"""Change mask of image pairs of any size (sliding windows, blended).

Single pair:

    python tools/predict.py CONFIG CHECKPOINT --img1 A.tif --img2 B.tif \
        --out change.tif [--prob] [--threshold 0.5] [--window 256] \
        [--stride 192] [--batch-size 8] [--device cpu]

(the stride defaults to 3/4 of the window)

Folders (pairs matched by identical file name):

    python tools/predict.py CONFIG CHECKPOINT --dir1 A/ --dir2 B/ \
        --out-dir masks/

A .tif/.tiff output is a GeoTIFF (0/1, CRS and geotransform of img1);
anything else is an image of 0/255 (PNG). ``--prob`` also writes the change
probability next to each mask as ``<name>_prob.<ext>`` (float32 GeoTIFF, or
8-bit PNG of 255 * p).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from ftan_opencd.apis import init_model, predict_pair_to_file
from ftan_opencd.apis.folders import output_name, pair_folders
from ftan_opencd.utils import add_trust_argument


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Predict change masks of image pairs of any size')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--img1', help='date 1 image (PNG/JPG/GeoTIFF)')
    parser.add_argument('--img2', help='date 2 image, same size')
    parser.add_argument('--out', help='output mask (.tif -> GeoTIFF, else '
                        'PNG of 0/255)')
    parser.add_argument('--dir1', help='folder of date 1 images')
    parser.add_argument('--dir2', help='folder of date 2 images')
    parser.add_argument('--out-dir', help='folder of the output masks')
    parser.add_argument('--window', type=int, default=256,
                        help='window side (default: 256)')
    parser.add_argument('--stride', type=int, default=None,
                        help='step between windows, at most --window '
                        '(default: 3/4 of the window, 192 for 256)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='windows per forward pass (default: 8)')
    parser.add_argument('--prob', action='store_true',
                        help='also write the change probability')
    parser.add_argument('--threshold', type=float, default=None,
                        help='change probability threshold (default: 0.5, '
                        'or the head threshold of a sigmoid head)')
    parser.add_argument('--max-value', type=float, default=None,
                        help='full-scale value of the images, e.g. 4095 for '
                        '12-bit data in uint16 files, 1.0 for reflectance '
                        '(default: 255 for 8-bit, 65535 for 16-bit)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    args = parser.parse_args(argv)
    single = [args.img1, args.img2, args.out]
    folders = [args.dir1, args.dir2, args.out_dir]
    if not (all(single) and not any(folders)
            or all(folders) and not any(single)):
        parser.error('give either --img1, --img2 and --out, or --dir1, '
                     '--dir2 and --out-dir')
    if args.stride is None:
        args.stride = max(1, args.window * 3 // 4)
    if args.window < 1 or not 1 <= args.stride <= args.window:
        parser.error(f'need 1 <= --stride <= --window, got --window '
                     f'{args.window} --stride {args.stride}')
    return args


def prob_path(out_file: str) -> str:
    """``<out stem>_prob<out suffix>``."""
    stem, suffix = osp.splitext(out_file)
    return f'{stem}_prob{suffix}'


def folder_jobs(args):
    """(img1, img2, out) for every name present in both folders."""
    names, only1, only2 = pair_folders(args.dir1, args.dir2)
    for folder, unmatched in ((args.dir1, only1), (args.dir2, only2)):
        if unmatched:
            print(f'{len(unmatched)} image(s) only in {folder}, skipped: '
                  f'{", ".join(unmatched)}')
    if not names:
        raise SystemExit(f'no file name is in both {args.dir1} and '
                         f'{args.dir2}')
    return [(osp.join(args.dir1, name), osp.join(args.dir2, name),
             osp.join(args.out_dir, output_name(name))) for name in names]


def main(argv=None):
    args = parse_args(argv)
    jobs = [(args.img1, args.img2, args.out)] if args.img1 else \
        folder_jobs(args)
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options,
                       trust_checkpoint=args.trust_checkpoint or None)
    failed = 0
    for img1, img2, out in jobs:
        try:
            predict_pair_to_file(
                model, img1, img2, out,
                prob_file=prob_path(out) if args.prob else None,
                window=args.window, stride=args.stride,
                batch_size=args.batch_size, threshold=args.threshold,
                progress=not args.no_progress, max_value=args.max_value)
        except (ValueError, FileNotFoundError) as exc:
            if len(jobs) == 1:
                raise
            print(f'\nskipped {img1} + {img2}: {exc}')
            failed += 1
            continue
        print(f'\n{img1} + {img2} -> {out}')
    if failed:
        print(f'{failed} of {len(jobs)} pair(s) failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
