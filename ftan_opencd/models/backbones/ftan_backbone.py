"""The MCFA encoder of FTAN: a SegNeXt-shaped backbone with MCFA attention."""
import copy
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule, PretrainedInit
from torch import Tensor

from opencd.registry import MODELS
from ..utils import REFERENCE_INIT
from .ftan_arch import ARCH_SETTINGS
from .mcfa import MCFA
from .mscan_weights import MSCANPretrainedInit


def conv_norm(in_channels: int, out_channels: int, norm_cfg: Dict,
              stride: int = 2) -> nn.Sequential:
    """3x3 convolution followed by a norm layer."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1),
        build_norm_layer(norm_cfg, out_channels)[1])


class StemConv(nn.Sequential):
    """Stem: 3x3/2 conv to C/2, norm, act, 3x3/2 conv to C, norm (H/4)."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Dict,
                 act_cfg: Dict):
        super().__init__(
            conv_norm(in_channels, out_channels // 2, norm_cfg),
            build_activation_layer(act_cfg),
            conv_norm(out_channels // 2, out_channels, norm_cfg))


class SpatialAttention(nn.Module):
    """1x1 conv, act, MCFA, 1x1 conv, plus a skip connection."""

    def __init__(self, channels: int, act_cfg: Dict, mcfa_cfg: Dict):
        super().__init__()
        self.proj_1 = nn.Conv2d(channels, channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.mcfa = MCFA(channels, **mcfa_cfg)
        self.proj_2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj_2(self.mcfa(self.activation(self.proj_1(x)))) + x


class ConvFFN(nn.Sequential):
    """1x1 conv, 3x3 depthwise conv, act, dropout, 1x1 conv, dropout."""

    def __init__(self, channels: int, hidden: int, act_cfg: Dict,
                 drop: float):
        super().__init__(
            nn.Conv2d(channels, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            build_activation_layer(act_cfg), nn.Dropout(drop),
            nn.Conv2d(hidden, channels, 1), nn.Dropout(drop))


class MCFABlock(nn.Module):
    """``x + ls1 * DropPath(Attn(BN(x)))``, ``x + ls2 * DropPath(FFN(BN(x)))``.

    Args:
        channels (int): Number of channels.
        mlp_ratio (float): Hidden width of the FFN relative to ``channels``.
        drop (float): Dropout rate in the FFN.
        drop_path (float): Stochastic depth rate.
        layer_scale_init (float): Initial value of the layer scales.
        norm_cfg (dict): Norm layer config.
        act_cfg (dict): Activation config.
        mcfa_cfg (dict): Keyword arguments of :class:`MCFA`.
        with_cp (bool): Use gradient checkpointing in training.
    """

    def __init__(self, channels: int, mlp_ratio: float, drop: float,
                 drop_path: float, layer_scale_init: float, norm_cfg: Dict,
                 act_cfg: Dict, mcfa_cfg: Dict, with_cp: bool = False):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.attn = SpatialAttention(channels, act_cfg, mcfa_cfg)
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.mlp = ConvFFN(channels, int(channels * mlp_ratio), act_cfg, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()
        self.layer_scale_1 = nn.Parameter(
            layer_scale_init * torch.ones(channels, 1, 1))
        self.layer_scale_2 = nn.Parameter(
            layer_scale_init * torch.ones(channels, 1, 1))
        self.with_cp = with_cp

    def _forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.layer_scale_1 * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(x)))

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


@MODELS.register_module()
class FTANBackbone(BaseModule):
    """MCFA encoder of FTAN (one image in, four maps at H/4..H/32 out).

    SegNeXt's MSCAN layout whose attention is MCFA (:class:`MCFA`). Inside
    open-cd's ``SiamEncoderDecoder`` it runs once per date with shared
    weights, so any open-cd neck and head can follow it.

    Args:
        arch (str | dict): ``'t'``, ``'s'``, ``'b'`` (the paper's FTAN-B) or
            ``'l'`` (SegNeXt's shapes), or a dict with ``embed_dims``,
            ``depths`` and ``mlp_ratios`` (one entry per stage).
        in_channels (int): Channels of one date's image (e.g. 4 for RGB-NIR).
            Default: 3.
        out_indices (Sequence[int]): Stages whose output is returned.
            Default: (0, 1, 2, 3).
        drop_rate (float): Dropout rate in the FFNs. Default: 0.
        drop_path_rate (float): Stochastic depth rate, increasing linearly
            over the blocks. Default: 0.1.
        layer_scale_init (float): Initial layer scale. Default: 1e-2.
        with_fdm (bool): FDM-AC gate on (ablation switch). Default: True.
        with_pconv (bool): PConv branch on (ablation switch). Default: True.
        fdm_scales (Sequence[int]): FDM-AC window half-widths.
            Default: (1, 2, 3, 4).
        fdm_per_channel (bool): Per-channel FDM-AC weights instead of the
            reference's one scalar each. Default: False.
        fdm_impl (str): ``'lowpass'`` (fast) or ``'reference'``.
        norm_cfg (dict): Norm inside blocks, stem and downsampling.
            Default: ``dict(type='BN', requires_grad=True)``.
        stage_norm_cfg (dict): Norm closing each stage. Default: LN.
        act_cfg (dict): Activation. Default: GELU.
        with_cp (bool): Gradient checkpointing of every block. Default: False.
        pretrained (str, optional): Checkpoint to load (deprecated form of
            ``init_cfg=dict(type='Pretrained', checkpoint=...)``).
        init_cfg (dict | list, optional): Initialisation config. Default:
            the reference initialisation (:data:`REFERENCE_INIT`). A
            ``dict(type='Pretrained', checkpoint=...)`` loads SegNeXt's
            MSCAN weights (mmseg ``MSCAN``: a bare state dict, an mmengine
            checkpoint or a segmentor's with ``backbone.`` keys; local file
            or http(s) URL) or an FTAN checkpoint; see
            :meth:`init_weights`.

    Example:
        Start FTAN-B from SegNeXt's ImageNet MSCAN-B (URL: ``MSCAN_IMAGENET_
        URLS['b']`` in :mod:`.mscan_weights`, or a local copy), 4 bands in
        the order R, G, B, NIR::

            backbone = dict(
                type='FTANBackbone', arch='b', in_channels=4,
                init_cfg=dict(
                    type='Pretrained',
                    checkpoint='checkpoints/mscan_b_20230227-3ab7d230.pth',
                    rgb_bands=(0, 1, 2)))
    """

    arch_settings = ARCH_SETTINGS

    def __init__(self,
                 arch: Union[str, Dict] = 'b',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 layer_scale_init: float = 1e-2,
                 with_fdm: bool = True,
                 with_pconv: bool = True,
                 fdm_scales: Sequence[int] = (1, 2, 3, 4),
                 fdm_per_channel: bool = False,
                 fdm_impl: str = 'lowpass',
                 norm_cfg: Dict = dict(type='BN', requires_grad=True),
                 stage_norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 with_cp: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('FTANBackbone: set `pretrained` or '
                                 '`init_cfg`, not both')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg or copy.deepcopy(REFERENCE_INIT))
        arch = self._parse_arch(arch)
        self.embed_dims = arch['embed_dims']
        num_stages = len(self.embed_dims)
        if in_channels < 1:
            raise ValueError(f'FTANBackbone: in_channels must be >= 1, got '
                             f'{in_channels}')
        if not out_indices or not all(0 <= i < num_stages
                                      for i in out_indices):
            raise ValueError(f'FTANBackbone: out_indices {out_indices} must '
                             f'be stage indices in [0, {num_stages})')
        self.in_channels = in_channels
        self.out_indices = tuple(out_indices)
        mcfa_cfg = dict(with_fdm=with_fdm, with_pconv=with_pconv,
                        fdm_scales=fdm_scales,
                        fdm_per_channel=fdm_per_channel, fdm_impl=fdm_impl)
        total = sum(arch['depths'])
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.patch_embeds = nn.ModuleList()
        self.stages = nn.ModuleList()
        self.stage_norms = nn.ModuleList()
        prev, start = in_channels, 0
        for dim, depth, ratio in zip(self.embed_dims, arch['depths'],
                                     arch['mlp_ratios']):
            self.patch_embeds.append(
                StemConv(prev, dim, norm_cfg, act_cfg) if start == 0 else
                conv_norm(prev, dim, norm_cfg))
            self.stages.append(nn.Sequential(*[
                MCFABlock(dim, ratio, drop_rate, rates[start + j],
                          layer_scale_init, norm_cfg, act_cfg, mcfa_cfg,
                          with_cp) for j in range(depth)
            ]))
            self.stage_norms.append(build_norm_layer(stage_norm_cfg, dim)[1])
            prev, start = dim, start + depth

    def init_weights(self) -> None:
        """Initialise; with a ``Pretrained`` init_cfg, start from MSCAN.

        Without ``Pretrained`` this is mmengine's ``init_weights``. With
        ``dict(type='Pretrained', checkpoint=..., **options)`` every weight
        first gets the other init_cfg entries (default: the reference
        initialisation, :data:`REFERENCE_INIT`), then the checkpoint is
        loaded by :func:`~.mscan_weights.load_mscan_weights`: read with the
        project's safe loader, MSCAN names mapped to FTAN names, the RGB
        stem widened to ``in_channels`` bands (:func:`~.mscan_weights.
        widen_stem_weight`: R, G, B filters on ``rgb_bands``, the mean RGB
        filter on the other bands, all times 3/N), loaded with
        ``strict=False``. FDM-AC and PConv parameters (MCFA's additions to
        MSCA, paper Eq. 1-4 and 5) stay at their initialisation. The log says
        how many keys loaded and names those that did not.

        Options besides ``checkpoint``: ``prefix`` (default ``'backbone.'``
        when present), ``map_location`` (default ``'cpu'``),
        ``trust_checkpoint`` (unpickle fully; default False), ``rgb_bands``
        (default ``(0, 1, 2)`` for 3 or more bands) and ``partial`` (load
        what fits; default False: a checkpoint of another arch is an error
        listing the shape mismatches).
        """
        pretrained = self._pretrained_cfg()
        if pretrained is None:
            super().init_weights()
            return
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else \
            [self.init_cfg]
        others = [c for c in cfgs if c is not pretrained] or \
            copy.deepcopy(REFERENCE_INIT)
        options = {k: v for k, v in pretrained.items() if k != 'type'}
        saved = self.init_cfg
        # mmengine applies non-Pretrained entries in order: MSCAN weights
        # are loaded last, over the initialisation.
        self.init_cfg = others + [dict(type=MSCANPretrainedInit, **options)]
        try:
            super().init_weights()
        finally:
            self.init_cfg = saved

    def _pretrained_cfg(self) -> Optional[Dict]:
        """The ``Pretrained`` entry of init_cfg, or None."""
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else \
            [self.init_cfg] if self.init_cfg else []
        found = [
            c for c in cfgs
            if c.get('type') in ('Pretrained', PretrainedInit)
        ]
        if len(found) > 1:
            raise ValueError('FTANBackbone: init_cfg has more than one '
                             'Pretrained entry')
        if found and not found[0].get('checkpoint'):
            raise ValueError('FTANBackbone: init_cfg Pretrained needs a '
                             'checkpoint (local file or http(s) URL)')
        return found[0] if found else None

    def _parse_arch(self, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_settings:
                raise ValueError(
                    f'FTANBackbone: unknown arch {arch!r}; choose one of '
                    f'{sorted(self.arch_settings)} or pass a dict with '
                    'embed_dims, depths and mlp_ratios')
            return self.arch_settings[arch.lower()]
        keys = ('embed_dims', 'depths', 'mlp_ratios')
        if not isinstance(arch, dict) or set(keys) - set(arch):
            raise ValueError(f'FTANBackbone: a custom arch must be a dict '
                             f'with keys {keys}, got {arch!r}')
        if len({len(arch[k]) for k in keys}) != 1:
            raise ValueError('FTANBackbone: embed_dims, depths and '
                             'mlp_ratios must have one entry per stage')
        return {k: list(arch[k]) for k in keys}

    def forward(self, x: Tensor) -> tuple:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'FTANBackbone expects (B, {self.in_channels}, H, W) for one '
                f'date, got {tuple(x.shape)}; set in_channels (and '
                'backbone_inchannels of SiamEncoderDecoder) to the bands of '
                'one image')
        outs = []
        for i, (embed, stage, norm) in enumerate(
                zip(self.patch_embeds, self.stages, self.stage_norms)):
            x = stage(embed(x))
            # LayerNorm over channels, applied channels-last.
            x = norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
