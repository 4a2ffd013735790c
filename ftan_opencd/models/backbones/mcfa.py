"""Multidimensional convolutional frequency attention (MCFA), paper Eq. 5-8."""
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .fdm_ac import FDMAC


class PartialConv(nn.Module):
    """FasterNet's partial convolution (paper Eq. 5).

    A dense 3x3 convolution without bias on the first ``channels // 4``
    channels; the remaining channels pass through unchanged.

    Args:
        channels (int): Number of input and output channels.
        ratio (int): One channel in ``ratio`` is convolved. Default: 4.
    """

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        self.conv_channels = max(1, channels // ratio)
        self.conv = nn.Conv2d(
            self.conv_channels, self.conv_channels, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        head, tail = torch.split(
            x, [self.conv_channels, x.shape[1] - self.conv_channels], dim=1)
        return torch.cat([self.conv(head), tail], dim=1)


class StripConv(nn.Sequential):
    """Depthwise ``1 x n`` then ``n x 1`` convolution (``W'_n(W_n(.))``)."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(
            nn.Conv2d(channels, channels, (1, kernel),
                      padding=(0, kernel // 2), groups=channels),
            nn.Conv2d(channels, channels, (kernel, 1),
                      padding=(kernel // 2, 0), groups=channels))


class MCFA(nn.Module):
    """MCFA attention: SegNeXt's MSCA with an FDM-AC gate and a PConv branch.

    ``a = DW5x5(x) * FDMAC(x)`` (Eq. 6 with the frequency gate, computed on
    ``x`` itself), ``s = a + PConv(a) + sum_n DW(n x 1)(DW(1 x n)(a))``
    (Eq. 7; the reference sums the branches) and ``out = Conv1x1(s) * x``
    (Eq. 8). With both switches off this is exactly SegNeXt's MSCA.

    Args:
        channels (int): Number of channels.
        strip_kernels (Sequence[int]): Strip lengths. Default: (7, 11, 21).
        with_fdm (bool): Use the FDM-AC gate. Default: True.
        with_pconv (bool): Use the PConv branch. Default: True.
        fdm_scales (Sequence[int]): FDM-AC window half-widths.
        fdm_per_channel (bool): Per-channel FDM-AC weights. Default: False.
        fdm_impl (str): ``'lowpass'`` or ``'reference'``; see :class:`FDMAC`.
    """

    def __init__(self,
                 channels: int,
                 strip_kernels: Sequence[int] = (7, 11, 21),
                 with_fdm: bool = True,
                 with_pconv: bool = True,
                 fdm_scales: Sequence[int] = (1, 2, 3, 4),
                 fdm_per_channel: bool = False,
                 fdm_impl: str = 'lowpass'):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 5, padding=2,
                               groups=channels)
        self.fdm = FDMAC(channels, fdm_scales, fdm_per_channel,
                         fdm_impl) if with_fdm else None
        self.pconv = PartialConv(channels) if with_pconv else None
        self.strips = nn.ModuleList(
            StripConv(channels, k) for k in strip_kernels)
        self.conv3 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        attn = self.conv0(x)
        if self.fdm is not None:
            attn = attn * self.fdm(x)
        out = attn
        if self.pconv is not None:
            out = out + self.pconv(attn)
        for strip in self.strips:
            out = out + strip(attn)
        return self.conv3(out) * x
