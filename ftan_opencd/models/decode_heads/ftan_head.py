"""FTAN decode head: the ChangeFormer-V6 decoder with the IAM at H/4."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from opencd.registry import MODELS
from ..utils import REFERENCE_INIT
from .iam import IAM

# Rows of the H/4 map that an output band of the upsampling tail needs on
# each side: 1 (classifier) + 2 (res2) full-resolution rows reach 2 rows at
# H/2 through up2's 4x4 stride-2 kernel, + 2 (res1) reach 3 rows at H/4
# through up1. See ``FTANHead._banded_tail``.
TAIL_HALO = 3


def difference_module(in_channels: int, channels: int,
                      conv_cfg: Optional[Dict], norm_cfg: Dict,
                      act_cfg: Dict) -> nn.Sequential:
    """3x3 conv, act, norm, 3x3 conv, act on the concatenated dates.

    The norm sits between the blocks (the reference's order), so each 3x3
    conv + act is a ``ConvModule`` (with its bias) and the norm a layer of
    its own.
    """
    return nn.Sequential(
        ConvModule(in_channels, channels, 3, padding=1, conv_cfg=conv_cfg,
                   act_cfg=act_cfg),
        build_norm_layer(norm_cfg, channels)[1],
        ConvModule(channels, channels, 3, padding=1, conv_cfg=conv_cfg,
                   act_cfg=act_cfg))


def side_prediction(channels: int, out_channels: int,
                    conv_cfg: Optional[Dict], norm_cfg: Dict,
                    act_cfg: Dict) -> nn.Sequential:
    """3x3 conv, act, norm, 3x3 conv: a per-scale map for deep supervision."""
    return nn.Sequential(
        ConvModule(channels, out_channels, 3, padding=1, conv_cfg=conv_cfg,
                   act_cfg=act_cfg),
        build_norm_layer(norm_cfg, out_channels)[1],
        ConvModule(out_channels, out_channels, 3, padding=1,
                   conv_cfg=conv_cfg, act_cfg=None))


class ResidualBlock(nn.Module):
    """``x + 0.1 * conv2(act(conv1(x)))`` with 3x3 convs.

    Args:
        channels (int): Channels of the input and output.
        conv_cfg (dict, optional): Config of both convs.
        act_cfg (dict): Activation after ``conv1``.
    """

    def __init__(self, channels: int, conv_cfg: Optional[Dict],
                 act_cfg: Dict):
        super().__init__()
        self.conv1 = ConvModule(channels, channels, 3, padding=1,
                                conv_cfg=conv_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(channels, channels, 3, padding=1,
                                conv_cfg=conv_cfg, act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.1 * self.conv2(self.conv1(x))


@MODELS.register_module()
class FTANHead(BaseDecodeHead):
    """ChangeFormer-V6 decoder with FTAN's interactive attention module.

    Takes the bitemporal maps concatenated per scale by
    ``FeatureFusionNeck(policy='concat')``; ``in_channels`` are ONE date's
    channels, and each input is split with ``torch.chunk`` like open-cd's
    BIT and Changer heads. From H/32 to H/4: a shared per-pixel linear map
    to ``channels`` for each date, a difference module on the concatenated
    dates plus the upsampled coarser result; the four maps are fused at H/4
    (1x1 conv + norm), refined by the IAM, then upsampled twice by
    transposed conv + residual block and classified by a 3x3 conv.

    Every conv(+norm)(+act) block of the decoder is an mmcv ``ConvModule``
    built with the head's ``conv_cfg``, ``norm_cfg`` and ``act_cfg`` (the
    paper's ReLU is ``act_cfg``'s default), and so are the 1x1 conv + norm
    + act projections of the IAM's attention blocks. The difference modules
    and side predictions keep the reference's conv, act, norm order: their
    norm is a layer between two conv(+act) blocks. Three kinds of
    layer stay plain torch layers, as they carry no norm or activation and
    ``conv_cfg`` does not describe them: the transposed convs ``up1`` /
    ``up2``, the classifier ``conv_seg`` (as in mmseg's ``BaseDecodeHead``)
    and the IAM's token maps ``q`` / ``k``, which Eq. 9 defines as linear
    maps (``nn.Linear``). State dicts written before 0.1.0 load after
    :func:`convert_head_keys` (CHANGELOG.md lists the renamed keys).

    Args:
        in_channels (Sequence[int]): Channels of one date per scale.
        channels (int): Embedding dim E of the decoder. Default: 256.
        with_iam (bool): Insert the IAM at H/4 (ablation switch).
            Default: True.
        fused_attention (bool): IAM attention without the N x N map
            (default); ``False`` is the reference compute pattern.
        deep_supervision (Sequence[float], optional): Loss weights of the
            per-scale predictions from H/32 to H/4; the reference uses
            ``(0.5, 0.5, 0.5, 0.8)`` beside weight 1 on the final map. The
            paper trains without (None, default).
        channels_last_tail (bool): Run the upsampling tail (transposed
            convs, residual blocks, classifier) in channels-last memory
            format, faster for its dense 3x3 convolutions; the outputs are
            the same. ``False`` is the reference pattern. Default: True.
        band_pixels (int, optional): Without autograd (inference), run the
            tail in horizontal bands of at most this many output pixels
            (plus a halo of ``TAIL_HALO`` rows at H/4, so the result is
            exact); this bounds the full-resolution activations, 1 GiB per
            map at 1024 x 1024. ``None`` runs it whole (reference pattern).
            Default: 2**18.
        kwargs: Arguments of mmseg's ``BaseDecodeHead`` (``num_classes``,
            ``out_channels``, ``threshold``, ``loss_decode``, ``conv_cfg``,
            ``act_cfg``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 320, 512),
                 channels: int = 256,
                 with_iam: bool = True,
                 fused_attention: bool = True,
                 deep_supervision: Optional[Sequence[float]] = None,
                 channels_last_tail: bool = True,
                 band_pixels: Optional[int] = 2**18,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 dropout_ratio: float = 0.,
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 init_cfg=None,
                 **kwargs):
        if isinstance(in_channels, int) or len(in_channels) != len(in_index):
            raise ValueError(
                f'FTANHead: in_channels ({in_channels}) must list one date\'s '
                f'channels for each of the in_index scales ({in_index})')
        if deep_supervision is not None and \
                len(deep_supervision) != len(in_channels):
            raise ValueError(
                f'FTANHead: deep_supervision needs one weight per scale '
                f'({len(in_channels)}), got {deep_supervision}')
        if band_pixels is not None and band_pixels < 1:
            raise ValueError(f'FTANHead: band_pixels must be a positive '
                             f'number of pixels or None, got {band_pixels}')
        super().__init__(
            in_channels=list(in_channels),
            channels=channels,
            in_index=list(in_index),
            input_transform='multiple_select',
            dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg or copy.deepcopy(REFERENCE_INIT),
            **kwargs)
        self.deep_supervision = deep_supervision
        self.channels_last_tail = channels_last_tail
        self.band_pixels = band_pixels
        conv_cfg, act_cfg = self.conv_cfg, self.act_cfg
        self.linears = nn.ModuleList(
            ConvModule(c, channels, 1, conv_cfg=conv_cfg, act_cfg=None)
            for c in self.in_channels)
        self.diffs = nn.ModuleList(
            difference_module(2 * channels, channels, conv_cfg, norm_cfg,
                              act_cfg) for _ in self.in_channels)
        if deep_supervision is not None:
            self.side_preds = nn.ModuleList(
                side_prediction(channels, self.out_channels, conv_cfg,
                                norm_cfg, act_cfg) for _ in self.in_channels)
        # Inside a Sequential: a ConvModule that is a direct child of the
        # head would re-run its own (Kaiming) init after ``init_cfg``.
        self.fuse = nn.Sequential(
            ConvModule(channels * len(self.in_channels), channels, 1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None))
        self.iam = IAM(channels, self.num_classes, norm_cfg, act_cfg,
                       conv_cfg=conv_cfg,
                       fused=fused_attention) if with_iam else None
        self.up1 = nn.ConvTranspose2d(channels, channels, 4, 2, 1)
        self.res1 = ResidualBlock(channels, conv_cfg, act_cfg)
        self.up2 = nn.ConvTranspose2d(channels, channels, 4, 2, 1)
        self.res2 = ResidualBlock(channels, conv_cfg, act_cfg)
        self.conv_seg = nn.Conv2d(channels, self.out_channels, 3, padding=1)

    def _split_dates(self, inputs: List[Tensor]) -> List[Tuple[Tensor, ...]]:
        dates = []
        for x, c in zip(inputs, self.in_channels):
            if x.shape[1] != 2 * c:
                raise ValueError(
                    f'FTANHead expects the two dates concatenated '
                    f'(FeatureFusionNeck policy="concat"): {2 * c} channels '
                    f'for in_channels={c}, got {x.shape[1]}; check that '
                    'in_channels matches the backbone\'s stage widths')
            dates.append(torch.chunk(x, 2, dim=1))
        return dates

    def _forward_all(self, inputs) -> Tuple[Tensor, List[Tensor]]:
        """Final logits at 4x the finest input and per-scale side logits."""
        dates = self._split_dates(self._transform_inputs(inputs))
        size = dates[0][0].shape[2:]
        ups, sides, coarser = [], [], None
        for idx in reversed(range(len(dates))):
            x1, x2 = dates[idx]
            linear = self.linears[idx]
            d = self.diffs[idx](torch.cat([linear(x1), linear(x2)], dim=1))
            if coarser is not None:
                d = d + resize(coarser, size=d.shape[2:], mode='bilinear',
                               align_corners=False)
            if self.deep_supervision is not None:
                sides.append(self.side_preds[idx](d))
            ups.append(d if d.shape[2:] == size else resize(
                d, size=size, mode='bilinear', align_corners=False))
            coarser = d
        c = self.fuse(torch.cat(ups, dim=1))
        if self.iam is not None:
            c = self.iam(c)
        if self.band_pixels is not None and not torch.is_grad_enabled():
            return self._banded_tail(c), sides
        return self._tail(c), sides

    def _tail(self, c: Tensor) -> Tensor:
        """Transposed conv + residual block twice, then the classifier."""
        if self.channels_last_tail:
            c = c.contiguous(memory_format=torch.channels_last)
        x = self.res2(self.up2(self.res1(self.up1(c))))
        return self.cls_seg(x).contiguous()

    def _banded_tail(self, c: Tensor) -> Tensor:
        """:meth:`_tail` band by band: each band of H/4 rows is extended by
        ``TAIL_HALO`` rows on both sides (clipped at the map's edges), and
        the output rows that the halo influences are dropped."""
        height, width = c.shape[2:]
        rows = max(1, self.band_pixels // (16 * width))
        if rows >= height:
            return self._tail(c)
        bands = []
        for start in range(0, height, rows):
            stop = min(start + rows, height)
            top = max(start - TAIL_HALO, 0)
            out = self._tail(c[:, :, top:min(stop + TAIL_HALO, height)])
            offset = 4 * (start - top)
            bands.append(out[:, :, offset:offset + 4 * (stop - start)])
        return torch.cat(bands, dim=2)

    def forward(self, inputs) -> Tensor:
        """Change logits at 4x the resolution of the finest input map."""
        return self._forward_all(inputs)[0]

    def loss(self, inputs, batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        logits, sides = self._forward_all(inputs)
        losses = self.loss_by_feat(logits, batch_data_samples)
        if sides:
            losses.update(self._side_losses(sides, batch_data_samples))
        return losses

    def _side_losses(self, sides: List[Tensor],
                     batch_data_samples: SampleList) -> dict:
        """Deep supervision as in the reference: the label is downsampled
        (nearest) to each side prediction, weighted per scale."""
        label = self._stack_batch_gt(batch_data_samples).float()
        losses = {}
        loss_modules = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for i, (weight, logit) in enumerate(zip(self.deep_supervision,
                                                sides)):
            target = F.interpolate(label, size=logit.shape[2:],
                                   mode='nearest').long().squeeze(1)
            losses[f'loss_side{i}'] = weight * sum(
                module(logit, target, ignore_index=self.ignore_index)
                for module in loss_modules)
        return losses
