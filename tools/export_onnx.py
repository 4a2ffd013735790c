"""Export a change detector's logits to ONNX and check it with onnxruntime.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx \
        [--shape 256 256] [--single-input] [--opset 17]

The graph has a fixed input size (multiple of 32) and takes normalised
inputs: RGB order, ``(x - mean) / std`` (``(x - 127.5) / 127.5`` for the
FTAN configs). Two inputs ``t1``, ``t2`` of 1x3xHxW, or with
``--single-input`` one input ``pair`` of 1x6xHxW (t1 then t2 channels).
Output: ``logits`` 1x2xHxW. The export is compared with PyTorch on a random
pair; the exit status is 1 when the max abs difference exceeds 1e-3 of the
largest logit magnitude.
"""
import argparse
import sys

from mmengine.config import DictAction

from ftan_opencd.apis import init_model
from ftan_opencd.apis.onnx_export import OPSET, compare_onnx, export_onnx
from ftan_opencd.utils import add_trust_argument

RELATIVE_TOLERANCE = 1e-3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export to ONNX')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='ONNX file to write')
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256],
                        metavar=('H', 'W'),
                        help='input height and width (default: 256 256)')
    parser.add_argument('--single-input', action='store_true',
                        help='one 6-channel input instead of t1 and t2')
    parser.add_argument('--opset', type=int, default=OPSET,
                        help=f'ONNX opset (default: {OPSET})')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, 'cpu', args.cfg_options,
                       trust_checkpoint=args.trust_checkpoint or None)
    export_onnx(model, args.out, args.shape, args.single_input, args.opset)
    diff, relative = compare_onnx(model, args.out, args.shape,
                                  args.single_input)
    print(f'wrote {args.out}; onnxruntime vs PyTorch: max abs diff '
          f'{diff:.3e} ({relative:.3e} of the largest logit)')
    if relative > RELATIVE_TOLERANCE:
        print(f'FAILED: relative difference above {RELATIVE_TOLERANCE}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
