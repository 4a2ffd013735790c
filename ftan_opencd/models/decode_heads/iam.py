"""Interactive attention module (IAM) of FTAN, paper Eq. 9-12."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from ..utils import chunked_attention, naive_attention


class NonLocalBlock(nn.Module):
    """Single-head attention between two maps of the same size.

    Queries come from ``query_feats``, keys and values from ``key_feats``;
    every projection is 1x1 conv + norm + act (mmseg's SelfAttentionBlock
    style) and the scores are scaled by ``channels ** -0.5``.

    Args:
        channels (int): Channels of both inputs and of the output.
        norm_cfg (dict): Norm of the projections.
        act_cfg (dict): Activation of the projections.
        fused (bool): Never store the N x N map (default). ``False`` keeps
            the reference pattern (materialised attention).
        conv_cfg (dict, optional): Config of the projections' 1x1 convs.
    """

    def __init__(self, channels: int, norm_cfg: Dict, act_cfg: Dict,
                 fused: bool = True, conv_cfg: Optional[Dict] = None):
        super().__init__()

        def project():
            return ConvModule(channels, channels, 1, conv_cfg=conv_cfg,
                              norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.query_project = project()
        self.key_project = project()
        self.value_project = project()
        self.out_project = project()
        self.attention = chunked_attention if fused else naive_attention

    @staticmethod
    def _tokens(x: Tensor) -> Tensor:
        return x.flatten(2).transpose(1, 2)

    def forward(self, query_feats: Tensor, key_feats: Tensor) -> Tensor:
        context = self.attention(
            self._tokens(self.query_project(query_feats)),
            self._tokens(self.key_project(key_feats)),
            self._tokens(self.value_project(key_feats)))
        context = context.transpose(1, 2).reshape(query_feats.shape)
        return self.out_project(context)


class IAM(nn.Module):
    """Interactive attention module at H/4 on the fused decoder map ``c``.

    Class tokens (keys) and propagation tokens (values), shared by both dates
    and all images, bridge the dates:
    ``h = softmax_K(q(t) k(cls)^T / sqrt(E)) prop`` for the pixel tokens t of
    ``c`` (Eq. 9); then ``F = c + NonLocal(c, c) + NonLocal(c, h)`` where the
    second block is the cross-context enhancement of Eq. 10-12.

    Args:
        channels (int): Channels E of ``c``.
        num_tokens (int): Tokens per set, the number of classes.
        norm_cfg (dict): Norm of the attention projections.
        act_cfg (dict): Activation of the attention projections.
        fused (bool): Memory-bounded attention (default) or the reference's
            materialised N x N map.
        conv_cfg (dict, optional): Config of the attention projections'
            1x1 convs. The token maps ``q`` and ``k`` of Eq. 9 are linear
            maps of token vectors and stay ``nn.Linear``.
    """

    def __init__(self, channels: int, num_tokens: int, norm_cfg: Dict,
                 act_cfg: Dict = dict(type='ReLU'), fused: bool = True,
                 conv_cfg: Optional[Dict] = None):
        super().__init__()
        self.cls_tokens = nn.Parameter(torch.empty(num_tokens, channels))
        self.prop_tokens = nn.Parameter(torch.empty(num_tokens, channels))
        trunc_normal_(self.cls_tokens, std=0.02)
        trunc_normal_(self.prop_tokens, std=0.02)
        self.token_query = nn.Linear(channels, channels)
        self.token_key = nn.Linear(channels, channels)
        self.self_context = NonLocalBlock(channels, norm_cfg, act_cfg, fused,
                                          conv_cfg)
        self.cross_context = NonLocalBlock(channels, norm_cfg, act_cfg,
                                           fused, conv_cfg)

    def token_context(self, c: Tensor) -> Tensor:
        """``h``: each pixel's mixture of propagation tokens (Eq. 9)."""
        pixels = c.flatten(2).transpose(1, 2)  # B, N, E
        scores = self.token_query(pixels) @ self.token_key(
            self.cls_tokens).T * c.shape[1]**-0.5  # B, N, K
        h = scores.softmax(dim=-1) @ self.prop_tokens
        return h.transpose(1, 2).reshape(c.shape)

    def forward(self, c: Tensor) -> Tensor:
        return c + self.self_context(c, c) + self.cross_context(
            c, self.token_context(c))
