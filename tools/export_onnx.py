"""Export a change detector's logits to ONNX and check it with onnxruntime.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx \
        [--shape 256 256] [--single-input] [--opset 17] [--device cpu]

The graph has a fixed input size (multiple of 32) and takes normalised
inputs: RGB order, ``(x - mean) / std`` (``(x - 127.5) / 127.5`` for the
FTAN configs). Two inputs ``t1``, ``t2`` of 1x3xHxW, or with
``--single-input`` one input ``pair`` of 1x6xHxW (t1 then t2 channels).
Output: ``logits`` 1x2xHxW. The export is compared with PyTorch on a random
pair; the exit status is 1 when the max abs difference exceeds 1e-3 of the
largest logit magnitude.

``--device cuda`` loads the model and traces the export on a GPU; the
check always runs the PyTorch model on the CPU beside onnxruntime's CPU
provider. Mistakes (a size that is not a positive multiple of 32, a device
this machine lacks, config and checkpoint swapped, a checkpoint that is not
one) end with one ``error: ...`` line and exit status 2, before anything is
built.
"""
import argparse
import sys
from typing import Sequence

import torch
from mmengine.config import DictAction

from ftan_opencd.apis import init_model
from ftan_opencd.apis.onnx_export import (OPSET, ChangeLogits, compare_onnx,
                                          example_inputs, export_onnx,
                                          input_names)
from ftan_opencd.cli import add_trust_argument
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_device, check_tool_paths

RELATIVE_TOLERANCE = 1e-3
SIZE_DIVISOR = 32


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
    parser.add_argument('--device', default='cpu',
                        help='device that loads the model and traces the '
                        'export: cpu, cuda or cuda:N (default: cpu)')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def check_shape(shape: Sequence[int]) -> None:
    """Refuse an input size the export cannot take.

    Args:
        shape (Sequence[int]): ``--shape H W``.

    Raises:
        UserError: A side is not a positive multiple of 32; the message
            suggests the nearest valid sizes.
    """
    bad = [side for side in shape
           if side <= 0 or side % SIZE_DIVISOR]
    if not bad:
        return
    suggestion = ' '.join(
        str(max(SIZE_DIVISOR, SIZE_DIVISOR * round(abs(side) / SIZE_DIVISOR)))
        for side in shape)
    raise UserError(
        f'--shape {shape[0]} {shape[1]}: height and width must be positive '
        f'multiples of {SIZE_DIVISOR} (the encoder downsamples by '
        f'{SIZE_DIVISOR}), e.g. --shape {suggestion}')


def check_arguments(args) -> None:
    """Check every argument before the model is built.

    Args:
        args (argparse.Namespace): The parsed command line.

    Raises:
        UserError, FileNotFoundError, IsADirectoryError: Naming the
            argument and what to do.
    """
    check_tool_paths(args.config, args.checkpoint)
    check_shape(args.shape)
    check_device(args.device)


@torch.no_grad()
def export_on_device(model, args) -> None:
    """Trace the export where the model is (``export_onnx`` on the CPU).

    Args:
        model (nn.Module): The change detector, on ``args.device``.
        args (argparse.Namespace): ``out``, ``shape``, ``single_input``,
            ``opset`` and ``device``.
    """
    if torch.device(args.device).type == 'cpu':
        export_onnx(model, args.out, args.shape, args.single_input,
                    args.opset)
        return
    inputs = tuple(
        x.to(args.device)
        for x in example_inputs(model, args.shape, args.single_input))
    torch.onnx.export(
        ChangeLogits(model.eval(), args.single_input), inputs, args.out,
        opset_version=args.opset,
        input_names=list(input_names(args.single_input)),
        output_names=['logits'], do_constant_folding=True)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    check_arguments(args)
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options,
                       trust_checkpoint=args.trust_checkpoint or None)
    export_on_device(model, args)
    diff, relative = compare_onnx(model.cpu(), args.out, args.shape,
                                  args.single_input)
    print(f'wrote {args.out}; onnxruntime vs PyTorch: max abs diff '
          f'{diff:.3e} ({relative:.3e} of the largest logit)')
    if relative > RELATIVE_TOLERANCE:
        print(f'FAILED: relative difference above {RELATIVE_TOLERANCE}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
