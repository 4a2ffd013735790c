"""Grad-CAM maps of the backbone stages, with and without FDM-AC (Fig. 5).

    python tools/activation_maps.py CONFIG CHECKPOINT --img1 A.png \
        --img2 B.png --out-dir cams/ [--stages 0 1 2 3] [--device cpu]

For every stage s and date t in {t1, t2} it writes
``stage{s}_{t}_with-fdm.png`` and ``stage{s}_{t}_without-fdm.png`` (JET
heat map over the image), the predicted masks ``pred_with-fdm.png`` and
``pred_without-fdm.png`` and a panel ``grid.png`` (rows: t1/t2 with, t1/t2
without; columns: stages).

Grad-CAM target: the summed 'changed' logit over the pixels the model
predicts as changed (over the whole image if none). "Without FDM-AC" is the
SAME checkpoint with every MCFA's frequency gate removed (``fdm = None``:
``a = DW5x5(x)`` instead of ``DW5x5(x) * FDMAC(x)``), not a model retrained
without it; each variant's own prediction defines its target. The whole
image is processed at once (padded to a multiple of 32): use tile-sized
inputs such as 256x256 or 1024x1024.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
from mmengine.config import DictAction

from ftan_opencd.apis import FTANInferencer
from ftan_opencd.apis.gradcam import fdm_bypassed, stage_gradcam
from ftan_opencd.apis.overlay import grid, heat_overlay, \
    labelled
from ftan_opencd.apis.sources import open_pair
from ftan_opencd.apis.writers import write_png
from ftan_opencd.cli import add_trust_argument
from ftan_opencd.errors import exit_on_user_error
from ftan_opencd.pixels import display_image
from ftan_opencd.utils.user_errors import check_tool_paths

VARIANTS = ('with-fdm', 'without-fdm')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Grad-CAM of backbone stages with and without FDM-AC')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--img1', required=True, help='date 1 image')
    parser.add_argument('--img2', required=True, help='date 2 image')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--stages', type=int, nargs='+', default=[0, 1, 2, 3],
                        help='backbone stages (default: 0 1 2 3)')
    parser.add_argument('--threshold', type=float, default=None,
                        help='change probability threshold (default: 0.5)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def read_pair(model, img1: str, img2: str):
    """Both dates as float32 HxWxC arrays (OpenCV order, 0..255)."""
    sources = open_pair(img1, img2, model.backbone_inchannels)
    try:
        return [src.read_rows(0, src.height) for src in sources]
    finally:
        for src in sources:
            src.close()


def activation_maps(model, img1: str, img2: str, out_dir: str, stages,
                    threshold=None) -> list:
    """Write the overlays, masks and panel; return the written files.

    Args:
        model (nn.Module): FTAN change detector.
        img1 (str): Date 1 image.
        img2 (str): Date 2 image.
        out_dir (str): Output folder.
        stages (Sequence[int]): Backbone stages.
        threshold (float, optional): Change threshold.
    """
    pair = read_pair(model, img1, img2)
    shown = [display_image(img) for img in pair]
    results = {VARIANTS[0]: stage_gradcam(model, *pair, stages, threshold)}
    with fdm_bypassed(model):
        results[VARIANTS[1]] = stage_gradcam(model, *pair, stages, threshold)
    os.makedirs(out_dir, exist_ok=True)
    written, rows = [], []
    for variant, result in results.items():
        path = osp.join(out_dir, f'pred_{variant}.png')
        write_png(path, result['mask'] * np.uint8(255))
        written.append(path)
        for d, date in enumerate(('t1', 't2')):
            row = []
            for k, stage in enumerate(stages):
                overlay = heat_overlay(shown[d], result['cams'][d, k])
                path = osp.join(out_dir, f'stage{stage}_{date}_{variant}.png')
                write_png(path, overlay)
                written.append(path)
                row.append(
                    labelled(overlay, f'{date} stage {stage} {variant}'))
            rows.append(row)
        print(f'{variant}: Grad-CAM target = changed logit over the '
              f'{result["target"]}')
    path = osp.join(out_dir, 'grid.png')
    write_png(path, grid(rows))
    return written + [path]


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    check_tool_paths(args.config, args.checkpoint)
    model = FTANInferencer(args.config, args.checkpoint, args.device,
                           cfg_options=args.cfg_options,
                           trust_checkpoint=args.trust_checkpoint
                           or None).model
    written = activation_maps(model, args.img1, args.img2, args.out_dir,
                              args.stages, args.threshold)
    print(f'wrote {len(written)} files to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
