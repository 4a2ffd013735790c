"""Frequency-domain masking adaptive convolution (FDM-AC), paper Eq. 1-4.

Two implementations of the same maths:

* :func:`fdm_ac_reference` transcribes the reference compute pattern: per
  scale a full ``fft2``, ``fftshift``, a centred window mask, ``w_r`` on the
  real and ``w_i`` on the imaginary part, ``ifftshift``, ``ifft2`` and the
  magnitude; the magnitudes are averaged over the scales.
* :func:`fdm_ac_lowpass` computes only the frequencies the mask keeps (at most
  ``2 * max(scales)`` per axis) with small real DFT matrices, once per call,
  and inverts each scale with thin matrix products. No ``fftshift`` copy is
  made: the centred window is a set of signed frequency indices.

Both clamp the window to the map (``h`` or ``w`` smaller than the window
never wraps around) and run in float32, also under autocast.
"""
import math
from functools import lru_cache
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor


def window_bounds(size: int, scale: int) -> Tuple[int, int]:
    """Rows ``[start, stop)`` of the centred window after ``fftshift``.

    The paper's mask (Eq. 2) keeps ``|u - M/2| < scale``; the reference keeps
    rows ``[size//2 - scale, size//2 + scale)``, clamped here to the map.
    """
    return max(0, size // 2 - scale), min(size, size // 2 + scale)


def window_frequencies(size: int, scale: int) -> Tensor:
    """Signed frequency indices kept by the centred window of ``scale``.

    ``fftshift`` puts frequency ``k - size//2`` at row ``k``, so the window
    rows map to the frequencies ``[start - size//2, stop - size//2)``.
    """
    start, stop = window_bounds(size, scale)
    return torch.arange(start - size // 2, stop - size // 2)


def _spread_weight(weight: Tensor, ndim: int) -> Tensor:
    """Reshape a scalar or per-channel weight to broadcast over B,C,H,W."""
    return weight.reshape(-1, *([1] * (ndim - 2))) if weight.numel() > 1 \
        else weight.reshape(())


def fdm_ac_reference(x: Tensor, w_r: Tensor, w_i: Tensor,
                     scales: Sequence[int] = (1, 2, 3, 4)) -> Tensor:
    """Slow, literal FDM-AC magnitude (paper Eq. 1-4, reference facts).

    Args:
        x (Tensor): Input of shape (B, C, H, W).
        w_r (Tensor): Weight of the real part, one scalar or C values.
        w_i (Tensor): Weight of the imaginary part, one scalar or C values.
        scales (Sequence[int]): Half-widths of the centred windows.

    Returns:
        Tensor: ``mean_s |ifft2(ifftshift(w(mask_s * fftshift(fft2(x)))))|``
        in float32, shape (B, C, H, W).
    """
    x = x.float()
    h, w = x.shape[-2:]
    w_r = _spread_weight(w_r.float(), x.dim())
    w_i = _spread_weight(w_i.float(), x.dim())
    out = torch.zeros_like(x)
    for scale in scales:
        freq = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))  # Eq. 1
        mask = torch.zeros(h, w, device=x.device)
        r0, r1 = window_bounds(h, scale)
        c0, c1 = window_bounds(w, scale)
        mask[r0:r1, c0:c1] = 1  # Eq. 2
        masked = freq * mask  # Eq. 3
        weighted = torch.complex(masked.real * w_r, masked.imag * w_i)
        spatial = torch.fft.ifft2(torch.fft.ifftshift(weighted, dim=(-2, -1)))
        out = out + spatial.abs()  # Eq. 4, magnitude per scale
    return out / len(scales)


@lru_cache(maxsize=256)
def _dft_matrices(size: int, scales: Tuple[int, ...], device: str):
    """Real DFT matrices for one axis, restricted to the kept frequencies.

    Returns:
        tuple: ``forward`` (2K, size) stacking ``cos`` over ``sin`` of
        ``2 pi f n / size`` for the K frequencies of the largest window, and
        ``inverse`` (S, 2, size, K) holding ``cos / size`` and ``sin / size``
        with the columns of frequencies outside scale s's window zeroed.
    """
    freqs = window_frequencies(size, max(scales)).double()
    pos = torch.arange(size, dtype=torch.float64)
    angle = 2 * math.pi * freqs[:, None] * pos[None, :] / size  # K, size
    forward = torch.cat([angle.cos(), angle.sin()])
    inverse = []
    for scale in scales:
        keep = torch.isin(freqs, window_frequencies(size, scale).double())
        inverse.append(
            torch.stack([angle.cos().T, angle.sin().T]) * keep / size)
    return (forward.float().to(device), torch.stack(inverse).float().to(device))


def fdm_ac_lowpass(x: Tensor, w_r: Tensor, w_i: Tensor,
                   scales: Sequence[int] = (1, 2, 3, 4)) -> Tensor:
    """Fast FDM-AC magnitude; equal to :func:`fdm_ac_reference`.

    The forward transform is computed once, only at the kept frequencies,
    as real products with cos/sin matrices (``X(u, v) = sum_ab x(a, b)
    e^{-2 pi i (ua/H + vb/W)}``); each scale is inverted with its masked
    inverse matrices. Only real matmuls are used, so the path also exports
    to ONNX.

    Args:
        x (Tensor): Input of shape (B, C, H, W).
        w_r (Tensor): Weight of the real part, one scalar or C values.
        w_i (Tensor): Weight of the imaginary part, one scalar or C values.
        scales (Sequence[int]): Half-widths of the centred windows.

    Returns:
        Tensor: The averaged magnitude in float32, shape (B, C, H, W).
    """
    # Python ints (also while tracing for ONNX, where shapes are tensors):
    # the cached DFT matrices then enter an exported graph as constants.
    h, w = int(x.shape[-2]), int(x.shape[-1])
    scales = tuple(scales)
    fwd_h, inv_h = _dft_matrices(h, scales, str(x.device))
    fwd_w, inv_w = _dft_matrices(w, scales, str(x.device))
    kh, kw = fwd_h.shape[0] // 2, fwd_w.shape[0] // 2
    # Eq. 1 at the kept bins: rows [cos; sin] x, then columns [cos; sin].
    blocks = fwd_h @ x.float() @ fwd_w.T  # (B, C, 2Kh, 2Kw)
    cc, cs = blocks[..., :kh, :kw], blocks[..., :kh, kw:]
    sc, ss = blocks[..., kh:, :kw], blocks[..., kh:, kw:]
    real = (cc - ss) * _spread_weight(w_r.float(), x.dim())
    imag = -(cs + sc) * _spread_weight(w_i.float(), x.dim())
    out = 0
    for (cos_h, sin_h), (cos_w, sin_w) in zip(inv_h, inv_w):
        # Eq. 2-4: the window lives in the inverse matrices' zeroed columns.
        u = cos_h @ real - sin_h @ imag
        v = cos_h @ imag + sin_h @ real
        y_real = u @ cos_w.T - v @ sin_w.T
        y_imag = u @ sin_w.T + v @ cos_w.T
        # A tiny floor keeps the gradient of |y| finite where y = 0.
        out = out + torch.sqrt(y_real * y_real + y_imag * y_imag + 1e-20)
    return out / len(scales)


class FDMAC(nn.Module):
    """FDM-AC gate of MCFA: frequency magnitude followed by a 1x1 conv.

    Args:
        channels (int): Number of input and output channels.
        scales (Sequence[int]): Half-widths of the centred frequency windows.
            Default: (1, 2, 3, 4) as in the reference.
        per_channel_weights (bool): Learn one ``w_r``/``w_i`` per channel (the
            paper's wording) instead of the reference's single scalar each.
            Default: False.
        impl (str): ``'lowpass'`` (fast, default) or ``'reference'`` (per-scale
            full FFTs, kept for checks and benchmarks).
    """

    IMPLS = {'lowpass': fdm_ac_lowpass, 'reference': fdm_ac_reference}

    def __init__(self,
                 channels: int,
                 scales: Sequence[int] = (1, 2, 3, 4),
                 per_channel_weights: bool = False,
                 impl: str = 'lowpass'):
        super().__init__()
        if impl not in self.IMPLS:
            raise ValueError(f'FDMAC impl must be one of {list(self.IMPLS)}, '
                             f'got {impl!r}')
        if not scales or min(scales) < 1:
            raise ValueError(f'FDMAC scales must be positive ints, got {scales}')
        self.scales = tuple(int(s) for s in scales)
        self.impl = impl
        shape = (channels, ) if per_channel_weights else ()
        self.w_r = nn.Parameter(torch.randn(shape))
        self.w_i = nn.Parameter(torch.randn(shape))
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            magnitude = self.IMPLS[self.impl](x, self.w_r, self.w_i,
                                              self.scales)
        return self.proj(magnitude.to(x.dtype))
