"""Parameters and FLOPs with mmengine's analysis, and what it misses.

``get_model_complexity_info`` traces the model's tensor-mode forward and
counts multiply-accumulates (fvcore convention: one FLOP per MAC) of the
operators it has handles for. Checked for the benchmarked models it

* does not count ``aten::scaled_dot_product_attention`` (FTAN's fused IAM
  attention) nor FFTs (``aten::fft_*``, FTAN's reference FDM-AC);
* undercounts ``aten::matmul`` whose right operand is batched and left is
  not: its handle multiplies the left shape by the last dim of the right,
  ignoring the right's batch dims (FTAN's DFT products ``F_h @ x``);
* counts no element-wise operations (activations, softmax, products).

:func:`complexity_info` therefore reports mmengine's count as is and a
second count with handles for SDPA and broadcast-aware matmul; FFTs and
element-wise operations stay uncounted and are listed with call counts.
"""
from typing import Any, Dict, List

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape

from .measure import random_batch

GIGA = 1e9


def _batched_matmul_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of ``a @ b`` with broadcast batch dimensions."""
    a, b = (list(get_shape(v)) for v in inputs[:2])
    a = [1] + a if len(a) == 1 else a
    b = b + [1] if len(b) == 1 else b
    out = get_shape(outputs[0])
    batch = 1
    for dim in out[:-2]:
        batch *= dim
    return batch * a[-2] * a[-1] * b[-1]


def _sdpa_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of softmax attention: ``q k^T`` plus ``p v``."""
    query, key, value = (get_shape(v) for v in inputs[:3])
    batch = 1
    for dim in query[:-2]:
        batch *= dim
    return batch * query[-2] * key[-2] * (query[-1] + value[-1])


EXTRA_HANDLES = {
    'aten::matmul': _batched_matmul_flops,
    'aten::scaled_dot_product_attention': _sdpa_flops,
}
# Substrings of operator names that are not element-wise.
HEAVY_OP_KEYS = ('attention', 'fft', 'matmul', 'bmm', 'einsum')


def _heavy(ops: Dict[str, int]) -> Dict[str, int]:
    """The uncounted operators that are not element-wise: attention, FFTs
    and products."""
    return {
        op: n
        for op, n in ops.items()
        if any(key in op for key in HEAVY_OP_KEYS)
    }


def complexity_info(model: nn.Module, size: int,
                    device: torch.device) -> Dict:
    """Parameters and FLOPs of the tensor-mode forward of one image pair.

    ``flops`` and ``params`` are what ``get_model_complexity_info`` returns
    (it runs the same ``FlopAnalyzer`` and ``parameter_count``); the
    analyzer is used directly to also read its unsupported operators.

    Args:
        model (nn.Module): The detector (put in eval mode).
        size (int): Side of the (1, 6, size, size) input.
        device (torch.device): Device of the model.

    Returns:
        dict: ``params``; ``flops`` (mmengine's count, GMACs x 1e9);
        ``flops_extended`` (with :data:`EXTRA_HANDLES`);
        ``flops_by_operator`` and ``flops_by_operator_extended``;
        ``uncounted_ops`` (every operator mmengine has no handle for, with
        call counts), ``uncounted_heavy`` (its attention / FFT / product
        entries) and ``uncounted_heavy_extended`` (those the extra handles
        still miss).
    """
    model.eval()
    inputs, _ = random_batch(1, size, device)
    analyzers = dict(default=FlopAnalyzer(model, (inputs, )),
                     extended=FlopAnalyzer(model, (inputs, )))
    for analyzer in analyzers.values():
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
    analyzers['extended'].set_op_handle(**EXTRA_HANDLES)
    with torch.no_grad():
        totals = {k: int(a.total()) for k, a in analyzers.items()}
    uncounted = dict(sorted(analyzers['default'].unsupported_ops().items()))
    return dict(
        input_shape=[1, 6, size, size],
        params=int(parameter_count(model)['']),
        flops=totals['default'],
        flops_extended=totals['extended'],
        flops_by_operator=dict(analyzers['default'].by_operator()),
        flops_by_operator_extended=dict(analyzers['extended'].by_operator()),
        uncounted_ops=uncounted,
        uncounted_heavy=_heavy(uncounted),
        uncounted_heavy_extended=_heavy(
            dict(analyzers['extended'].unsupported_ops())))
