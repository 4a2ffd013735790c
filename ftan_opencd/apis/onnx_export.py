"""Export the tensor forward (logits) of a change detector to ONNX.

The exported graph takes *normalised* inputs, i.e. what the data
preprocessor produces: RGB order and ``(x - mean) / std`` per channel (for
the FTAN configs ``(x - 127.5) / 127.5``), at a fixed size that is a
multiple of 32, and returns the (1, num_classes, H, W) logits.

No operator blocks the export: FDM-AC's fast path uses real matmuls only
(no FFT, no complex tensors), and its DFT matrices, cached per map size,
enter the graph as constants (the input size is fixed anyway). The
reference path (``fdm_impl='reference'``) does not: torch.onnx has no
export of ``aten::fft_fft2`` in opset 17.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .inference import forward_logits

OPSET = 17


class ChangeLogits(nn.Module):
    """Wrap a Siamese detector as ``logits = f(t1, t2)`` or ``f(pair)``.

    Args:
        model (nn.Module): Change detector (see :func:`.forward_logits`).
        single_input (bool): Take one (B, 2C, H, W) tensor instead of two
            (B, C, H, W) tensors.
    """

    def __init__(self, model: nn.Module, single_input: bool = False):
        super().__init__()
        self.model = model
        self.single_input = single_input

    def forward(self, *inputs: Tensor) -> Tensor:
        x = inputs[0] if self.single_input else torch.cat(inputs, dim=1)
        return forward_logits(self.model, x)


def example_inputs(model: nn.Module, shape: Sequence[int],
                   single_input: bool, seed: int = 0) -> Tuple[Tensor, ...]:
    """Random normalised inputs of the exported graph.

    Args:
        model (nn.Module): The change detector.
        shape (Sequence[int]): (H, W), multiples of 32.
        single_input (bool): One 2C-channel tensor instead of two.
        seed (int): Random seed.
    """
    height, width = shape
    if height % 32 or width % 32:
        raise ValueError(f'the input size must be a multiple of 32, got '
                         f'{height}x{width}')
    channels = model.backbone_inchannels
    gen = torch.Generator().manual_seed(seed)
    pair = torch.rand(1, 2 * channels, height, width, generator=gen) * 2 - 1
    return (pair, ) if single_input else tuple(pair.split(channels, dim=1))


def input_names(single_input: bool) -> Tuple[str, ...]:
    """Names of the graph inputs."""
    return ('pair', ) if single_input else ('t1', 't2')


@torch.no_grad()
def export_onnx(model: nn.Module,
                out_file: str,
                shape: Sequence[int] = (256, 256),
                single_input: bool = False,
                opset: int = OPSET) -> None:
    """Export ``model``'s logits for a fixed input size.

    Args:
        model (nn.Module): Change detector in eval mode, on the CPU.
        out_file (str): ONNX file to write.
        shape (Sequence[int]): Input (H, W), multiples of 32.
        single_input (bool): One 2C-channel input ``pair`` instead of ``t1``
            and ``t2``.
        opset (int): ONNX opset. Default: 17.
    """
    wrapper = ChangeLogits(model.eval(), single_input)
    inputs = example_inputs(model, shape, single_input)
    torch.onnx.export(
        wrapper, inputs, out_file, opset_version=opset,
        input_names=list(input_names(single_input)),
        output_names=['logits'], do_constant_folding=True)


@torch.no_grad()
def compare_onnx(model: nn.Module,
                 onnx_file: str,
                 shape: Sequence[int] = (256, 256),
                 single_input: bool = False,
                 seed: int = 1) -> Tuple[float, float]:
    """Run the ONNX graph with onnxruntime and PyTorch on a random pair.

    Args:
        model (nn.Module): The exported change detector.
        onnx_file (str): The ONNX file.
        shape (Sequence[int]): Input (H, W) of the export.
        single_input (bool): The export takes one input.
        seed (int): Seed of the random pair.

    Returns:
        tuple[float, float]: Max absolute difference of the logits and that
        difference relative to the largest PyTorch logit magnitude.
    """
    import onnxruntime as ort
    inputs = example_inputs(model, shape, single_input, seed)
    expected = ChangeLogits(model.eval(), single_input)(*inputs).numpy()
    session = ort.InferenceSession(onnx_file,
                                   providers=['CPUExecutionProvider'])
    feeds = {name: x.numpy()
             for name, x in zip(input_names(single_input), inputs)}
    actual = session.run(['logits'], feeds)[0]
    if actual.shape != expected.shape:
        raise ValueError(f'ONNX output shape {actual.shape} differs from '
                         f'PyTorch {expected.shape}')
    diff = float(np.abs(actual - expected).max())
    return diff, diff / max(float(np.abs(expected).max()), 1e-12)
