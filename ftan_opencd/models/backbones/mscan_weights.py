"""Start :class:`FTANBackbone` from SegNeXt's ImageNet weights (mmseg MSCAN).

The MCFA encoder is SegNeXt's MSCAN whose MSCA attention (paper Eq. 6-8
without the additions) gains an FDM-AC gate (Eq. 1-4) and a PConv branch
(Eq. 5). Every MSCAN parameter therefore has exactly one FTAN counterpart;
only the names differ (:func:`mscan_to_ftan_key`; 1-based MSCAN stages
become 0-based FTAN stages):

* ``patch_embed1.proj.{0,1,3,4}`` (stem conv, BN, conv, BN) ->
  ``patch_embeds.0.{0.0,0.1,2.0,2.1}``
* ``patch_embed{i}.proj`` / ``.norm`` (i >= 2) -> ``patch_embeds.{i-1}.0`` /
  ``.1``
* ``block{i}.{j}.norm1`` / ``norm2`` / ``attn.proj_1`` / ``attn.proj_2`` ->
  ``stages.{i-1}.{j}.`` and the same name
* ``block{i}.{j}.layer_scale_{1,2}``, shape (C,) -> the same name under
  ``stages.{i-1}.{j}``, reshaped to (C, 1, 1)
* ``block{i}.{j}.attn.spatial_gating_unit.conv0`` / ``conv3`` ->
  ``stages.{i-1}.{j}.attn.mcfa.conv0`` / ``conv3`` (DW 5x5, channel mixing)
* ``block{i}.{j}.attn.spatial_gating_unit.conv{k}_{m}`` (strip k: 1 x n for
  m = 1, n x 1 for m = 2) -> ``stages.{i-1}.{j}.attn.mcfa.strips.{k}.{m-1}``
* ``block{i}.{j}.mlp.fc1`` / ``dwconv`` / ``fc2`` ->
  ``stages.{i-1}.{j}.mlp.0`` / ``1`` / ``4``
* ``norm{i}`` -> ``stage_norms.{i-1}``

SegNeXt's own repository names the depthwise FFN convolution
``mlp.dwconv.dwconv``; that spelling maps to ``mlp.1`` as well.

The FDM-AC (``attn.mcfa.fdm.*``) and PConv (``attn.mcfa.pconv.*``)
parameters have no MSCAN counterpart and keep their initialisation.

**Stem widening** (:func:`widen_stem_weight`, ``in_channels`` = N). MSCAN's
first convolution sees R, G, B. For N bands its kernel ``W`` (C, 3, k, k)
becomes ``W'`` (C, N, k, k): the bands named by ``rgb_bands`` (default
``(0, 1, 2)`` for N >= 3) get the R, G, B filters, every other band the
mean of the three, and the whole kernel is multiplied by 3 / N. The sum
over bands is then unchanged, so an input whose N bands are all equal to one
image ``g`` gives exactly what the pretrained network gives for the grey RGB
image ``(g, g, g)``, and activations keep their scale when the bands are
correlated. N = 3 with ``rgb_bands=(0, 1, 2)`` is the identity.
"""
import logging
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlparse

import torch
import torch.nn as nn
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.model import update_init_info
from torch import Tensor

from ...utils.checkpoint import (CheckpointError, load_checkpoint_file,
                                 state_dict_of)
from .ftan_arch import ARCH_SETTINGS

# SegNeXt's ImageNet-1k MSCAN checkpoints, as mmseg 1.2.2's own configs
# (configs/segnext/segnext_mscan-*_1xb16-adamw-160k_ade20k-512x512.py) name
# them.
MSCAN_IMAGENET_URLS = {
    arch: 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
    f'segnext/mscan_{arch}_20230227-{sha}.pth'
    for arch, sha in (('t', '119e8c9f'), ('s', 'f33ccdf2'),
                      ('b', '3ab7d230'), ('l', 'cef260d4'))
}
STEM_KEY = 'patch_embeds.0.0.0.weight'
FTAN_ONLY = ('.attn.mcfa.fdm.', '.attn.mcfa.pconv.')
MAX_LISTED = 5

# (MSCAN pattern, FTAN replacement) applied to the rest of a key after
# ``block{i}.{j}.``; each pattern ends on a module boundary.
_BLOCK_RULES: List[Tuple[str, Union[str, Callable]]] = [
    (r'attn\.spatial_gating_unit\.conv0\.', 'attn.mcfa.conv0.'),
    (r'attn\.spatial_gating_unit\.conv3\.', 'attn.mcfa.conv3.'),
    (r'attn\.spatial_gating_unit\.conv(\d+)_([12])\.',
     lambda m: f'attn.mcfa.strips.{m[1]}.{int(m[2]) - 1}.'),
    (r'attn\.proj_([12])\.', r'attn.proj_\1.'),
    (r'norm([12])\.', r'norm\1.'),
    (r'layer_scale_([12])$', r'layer_scale_\1'),
    (r'mlp\.fc1\.', 'mlp.0.'),
    (r'mlp\.dwconv\.dwconv\.', 'mlp.1.'),  # SegNeXt's own repository
    (r'mlp\.dwconv\.', 'mlp.1.'),
    (r'mlp\.fc2\.', 'mlp.4.'),
]
_STEM_RULES = {'0': '0.0', '1': '0.1', '3': '2.0', '4': '2.1'}


def mscan_to_ftan_key(key: str) -> Optional[str]:
    """FTAN name of an mmseg ``MSCAN`` parameter or buffer name.

    Args:
        key (str): A key of ``MSCAN.state_dict()``, e.g.
            ``'block2.0.attn.spatial_gating_unit.conv1_2.weight'``.

    Returns:
        str | None: The :class:`FTANBackbone` key (here
        ``'stages.1.0.attn.mcfa.strips.1.1.weight'``), or None when the key
        is not an MSCAN encoder key (e.g. an ImageNet classifier ``head``).
    """
    m = re.match(r'patch_embed1\.proj\.([0134])\.(\w+)$', key)
    if m:
        return f'patch_embeds.0.{_STEM_RULES[m[1]]}.{m[2]}'
    m = re.match(r'patch_embed(\d+)\.(proj|norm)\.(\w+)$', key)
    if m and int(m[1]) >= 2:
        return (f'patch_embeds.{int(m[1]) - 1}.'
                f'{0 if m[2] == "proj" else 1}.{m[3]}')
    m = re.match(r'norm(\d+)\.(\w+)$', key)
    if m and int(m[1]) >= 1:
        return f'stage_norms.{int(m[1]) - 1}.{m[2]}'
    m = re.match(r'block(\d+)\.(\d+)\.(.+)$', key)
    if m and int(m[1]) >= 1:
        prefix = f'stages.{int(m[1]) - 1}.{m[2]}.'
        for pattern, repl in _BLOCK_RULES:
            inner, found = re.subn('^' + pattern, repl, m[3])
            if found:
                return prefix + inner
    return None


def convert_mscan_state_dict(
        state_dict: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str]]:
    """Rename an MSCAN state dict to FTAN names (see the module docstring).

    Layer scales, ``(C,)`` in MSCAN, become ``(C, 1, 1)``.

    Args:
        state_dict (dict): MSCAN weights (no ``backbone.`` prefix).

    Returns:
        tuple[dict, list[str]]: The renamed weights and the MSCAN keys that
        have no FTAN counterpart.
    """
    converted, unused = {}, []
    for key, value in state_dict.items():
        new_key = mscan_to_ftan_key(key)
        if new_key is None or not isinstance(value, Tensor):
            unused.append(key)
            continue
        if new_key.endswith(('layer_scale_1', 'layer_scale_2')):
            value = value.reshape(-1, 1, 1)
        converted[new_key] = value
    return converted, unused


def default_rgb_bands(in_channels: int) -> Optional[Tuple[int, int, int]]:
    """Bands that receive MSCAN's R, G, B filters by default: the first
    three when there are at least three, none otherwise."""
    return (0, 1, 2) if in_channels >= 3 else None


def widen_stem_weight(weight: Tensor, in_channels: int,
                      rgb_bands: Optional[Sequence[int]]) -> Tensor:
    """Widen MSCAN's first convolution kernel from 3 (RGB) to N bands.

    ``W'[:, rgb_bands[c]] = 3/N * W[:, c]`` for c = R, G, B and
    ``W'[:, b] = 3/N * mean_c W[:, c]`` for every other band b. The sum of
    ``W'`` over bands equals the sum of ``W``, so an input whose N bands are
    equal to one image ``g`` gives the same convolution output as the RGB
    image ``(g, g, g)`` gives with ``W``. The bias is unchanged.

    Args:
        weight (Tensor): MSCAN stem kernel, ``(C, 3, k, k)``, in R, G, B
            input order (mmseg feeds MSCAN RGB).
        in_channels (int): N, the bands of one date.
        rgb_bands (Sequence[int] | None): Indices of the red, green and blue
            bands among the N (e.g. ``(2, 1, 0)`` for a B, G, R, NIR
            stack), or None when no band is R, G or B (all bands then get
            the mean filter).

    Returns:
        Tensor: The ``(C, N, k, k)`` kernel.

    Raises:
        ValueError: ``weight`` is not an RGB kernel, or ``rgb_bands`` is not
            three distinct band indices.
    """
    if weight.dim() != 4 or weight.shape[1] != 3:
        raise ValueError(f'the MSCAN stem kernel must be (C, 3, k, k), got '
                         f'{tuple(weight.shape)}')
    widened = weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)
    if rgb_bands is not None:
        bands = [int(b) for b in rgb_bands]
        if len(bands) != 3 or len(set(bands)) != 3 or not all(
                0 <= b < in_channels for b in bands):
            raise ValueError(
                f'rgb_bands must be three distinct band indices in '
                f'[0, {in_channels}) (red, green, blue), got {rgb_bands!r}')
        widened[:, bands] = weight
    return widened * (3.0 / in_channels)


def _is_url(checkpoint: str) -> bool:
    return urlparse(str(checkpoint)).scheme in ('http', 'https')


def _download(url: str, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    print_log(f'downloading {url} to {path}', logger='current')
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as exc:  # noqa: BLE001 - urllib raises many types
        raise CheckpointError(
            f'cannot download {url}: {exc}. Download it yourself and set '
            'init_cfg.checkpoint to the local file.') from exc


def cached_checkpoint_path(checkpoint: str) -> str:
    """Local file for a checkpoint path or http(s) URL.

    URLs are downloaded once into ``<torch hub dir>/checkpoints`` (where
    mmengine and torch.hub cache them too, so an earlier download is
    reused); in distributed runs rank 0 downloads first.

    Args:
        checkpoint (str): Local path or http(s) URL.

    Returns:
        str: The local file.

    Raises:
        ValueError: Another URL scheme (``s3://``, ``open-mmlab://``, ...).
        CheckpointError: The download failed.
    """
    checkpoint = str(checkpoint)
    if not _is_url(checkpoint):
        if '://' in checkpoint:
            raise ValueError(
                f'FTANBackbone loads pretrained weights from a local file or '
                f'an http(s) URL, got {checkpoint!r}; download it and give '
                'the local path')
        return osp.expanduser(checkpoint)
    path = osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(urlparse(checkpoint).path))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(path):
        _download(checkpoint, path)
    if world_size > 1:
        barrier()
    if not osp.isfile(path):  # another node with its own file system
        _download(checkpoint, path)
    return path


def backbone_weights(checkpoint: dict, prefix: Optional[str]) -> Dict:
    """The encoder's weights of a checkpoint.

    Args:
        checkpoint (dict): A bare state dict, an mmengine checkpoint
            (``state_dict`` entry) or a segmentor's (keys ``backbone.*``).
        prefix (str | None): Keep only keys with this prefix and strip it;
            None: ``'backbone.'`` when such keys exist, else all keys.

    Returns:
        dict: The weights, without ``module.`` and the prefix.
    """
    state_dict = state_dict_of(checkpoint)
    if prefix is None:
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in state_dict) else ''
    if not prefix:
        return dict(state_dict)
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


def is_mscan_state_dict(state_dict: Dict) -> bool:
    """True when the keys are mmseg MSCAN names (``patch_embed1.*``,
    ``block1.*``)."""
    return any(k.startswith(('patch_embed1.', 'block1.')) for k in state_dict)


def _name_arch(dims: List[int], depths: List[int]) -> str:
    for name, arch in ARCH_SETTINGS.items():
        if arch['embed_dims'] == dims and arch['depths'] == depths:
            return f"arch '{name}'"
    return 'a custom arch'


def describe_mscan(state_dict: Dict) -> str:
    """``'embed_dims [..], depths [..] (arch 'x')'`` of MSCAN weights."""
    dims, depths = [], []
    for i in range(1, 5):
        norm = state_dict.get(f'norm{i}.weight')
        blocks = [
            int(m[1]) for k in state_dict
            for m in [re.match(rf'block{i}\.(\d+)\.', k)] if m
        ]
        if norm is None or not blocks:
            break
        dims.append(int(norm.shape[0]))
        depths.append(max(blocks) + 1)
    return (f'embed_dims {dims}, depths {depths} '
            f'({_name_arch(dims, depths)})')


def describe_model(model: nn.Module) -> str:
    """``'embed_dims [..], depths [..] (arch 'x')'`` of an FTANBackbone."""
    dims = list(model.embed_dims)
    depths = [len(stage) for stage in model.stages]
    return (f'embed_dims {dims}, depths {depths} '
            f'({_name_arch(dims, depths)})')


def _grouped(keys: List[str]) -> str:
    """Keys grouped over stage and block numbers, with counts."""
    groups = defaultdict(int)
    for key in keys:
        groups[re.sub(r'^stages\.\d+\.\d+\.', 'stages.<i>.<j>.',
                      re.sub(r'^block\d+\.\d+\.', 'block<i>.<j>.', key))] += 1
    return ', '.join(f'{k} (x{n})' if n > 1 else k
                     for k, n in sorted(groups.items()))


def _listed(items: List[str]) -> str:
    more = f', ... ({len(items)} in all)' if len(items) > MAX_LISTED else ''
    return ', '.join(items[:MAX_LISTED]) + more


def _widen_stem(weights: Dict[str, Tensor], in_channels: int,
                rgb_bands) -> Dict[str, Tensor]:
    stem = weights.get(STEM_KEY)
    if stem is None or stem.dim() != 4 or stem.shape[1] != 3:
        return weights
    if rgb_bands == 'auto':
        rgb_bands = default_rgb_bands(in_channels)
    if in_channels == 3 and rgb_bands is not None and \
            tuple(rgb_bands) == (0, 1, 2):
        return weights
    widened = widen_stem_weight(stem, in_channels, rgb_bands)
    print_log(
        f'FTANBackbone: stem widened from RGB to {in_channels} bands '
        f'(R, G, B filters -> bands {rgb_bands}, other bands the mean RGB '
        f'filter, kernel x 3/{in_channels})', logger='current')
    return {**weights, STEM_KEY: widened}


def split_fitting(model: nn.Module, weights: Dict[str, Tensor]
                  ) -> Tuple[Dict[str, Tensor], List[str], List[str]]:
    """Weights that fit ``model``, shape mismatches, names it lacks."""
    own = model.state_dict()
    fitting, shapes, unknown = {}, [], []
    for key, value in weights.items():
        if key not in own:
            unknown.append(key)
        elif value.shape != own[key].shape:
            shapes.append(f'{key}: checkpoint {tuple(value.shape)} vs '
                          f'model {tuple(own[key].shape)}')
        else:
            fitting[key] = value
    return fitting, shapes, unknown


def _refuse(source: str, found: str, model: nn.Module, loaded: int,
            expected: int, shapes: List[str], missing: List[str]) -> None:
    parts = [f'shape mismatches ({len(shapes)}): {_listed(shapes)}'] \
        if shapes else []
    if missing:
        parts.append(f'encoder keys missing in the checkpoint '
                     f'({len(missing)}): {_listed(missing)}')
    raise CheckpointError(
        f'{source} does not fit FTANBackbone: only {loaded} of the '
        f'{expected} MSCAN-shaped parameters and buffers would load. The '
        f'checkpoint is {found}; the model has {describe_model(model)}. '
        + '; '.join(parts) + '. Use the MSCAN checkpoint of the same arch '
        '(t/s/b/l), or set partial=True in init_cfg to load what fits on '
        'purpose.')


def load_mscan_weights(model: nn.Module,
                       checkpoint: str,
                       prefix: Optional[str] = None,
                       map_location='cpu',
                       trust_checkpoint: bool = False,
                       rgb_bands='auto',
                       partial: bool = False) -> Dict[str, List[str]]:
    """Load an MSCAN (or FTAN) checkpoint into an :class:`FTANBackbone`.

    The file is read with the project's safe loader
    (:func:`ftan_opencd.utils.load_checkpoint_file`), MSCAN names are mapped
    to FTAN names (:func:`convert_mscan_state_dict`; checkpoints that
    already use FTAN names load as they are), the stem is widened for
    ``in_channels != 3`` (:func:`widen_stem_weight`) and the result is
    loaded with ``strict=False``. What loaded and what did not is logged.

    Args:
        model (FTANBackbone): The encoder.
        checkpoint (str): Local file or http(s) URL (cached, see
            :func:`cached_checkpoint_path`).
        prefix (str, optional): Key prefix of the encoder in the checkpoint;
            default ``'backbone.'`` when present (segmentor checkpoints).
        map_location: As for :func:`torch.load`. Default: ``'cpu'``.
        trust_checkpoint (bool): Unpickle fully (only for files you trust).
            Default: False.
        rgb_bands (Sequence[int] | None | str): Bands that get MSCAN's R, G,
            B stem filters; ``'auto'``: ``(0, 1, 2)`` when ``in_channels >=
            3``, else None.
        partial (bool): Load what fits even when some encoder weights are
            missing or have other shapes. Default: False (refuse).

    Returns:
        dict: ``loaded``, ``not_loaded`` (model keys left at their
        initialisation) and ``unused`` (checkpoint keys not loaded).

    Raises:
        CheckpointError: The checkpoint does not fit (another arch, not an
            MSCAN/FTAN checkpoint) or cannot be read.
    """
    weights, unused, found = _read_weights(model, checkpoint, prefix,
                                           map_location, trust_checkpoint,
                                           rgb_bands)
    fitting, shapes, unknown = split_fitting(model, weights)
    own = list(model.state_dict())
    expected = [k for k in own if not any(s in k for s in FTAN_ONLY)]
    fitted = [k for k in expected if k in fitting]
    if not fitting or not (len(fitted) == len(expected) or partial):
        _refuse(checkpoint, found, model, len(fitted), len(expected), shapes,
                [k for k in expected if k not in weights])
    model.load_state_dict(fitting, strict=False)
    report = dict(
        loaded=list(fitting),
        not_loaded=[k for k in own if k not in fitting],
        unused=unused + unknown + [s.split(':')[0] for s in shapes])
    _log_report(checkpoint, found, report, len(own))
    return report


def _read_weights(model: nn.Module, checkpoint: str, prefix: Optional[str],
                  map_location, trust_checkpoint: bool,
                  rgb_bands) -> Tuple[Dict[str, Tensor], List[str], str]:
    """Encoder weights under FTAN names, MSCAN keys without an FTAN
    counterpart, and what the checkpoint is (for messages)."""
    path = cached_checkpoint_path(checkpoint)
    weights = backbone_weights(
        load_checkpoint_file(path, map_location, trust_checkpoint), prefix)
    if is_mscan_state_dict(weights):
        converted, unused = convert_mscan_state_dict(weights)
        return (_widen_stem(converted, model.in_channels, rgb_bands), unused,
                f'an MSCAN with {describe_mscan(weights)}')
    if any(k.startswith('patch_embeds.') for k in weights):
        return weights, [], 'an FTANBackbone checkpoint'
    return weights, [], ('not an mmseg MSCAN nor an FTANBackbone checkpoint '
                         '(no patch_embed1.*, block1.* or patch_embeds.* '
                         'keys)')


def _log_report(source: str, found: str, report: Dict[str, List[str]],
                total: int) -> None:
    print_log(
        f'FTANBackbone: loaded {len(report["loaded"])} of {total} '
        f'parameters and buffers from {source} ({found})', logger='current')
    if report['not_loaded']:
        print_log(
            f'FTANBackbone: not loaded, kept at their initialisation '
            f'({len(report["not_loaded"])}): '
            f'{_grouped(report["not_loaded"])}', logger='current')
        print_log(
            'FTANBackbone: not loaded, by name: ' +
            ', '.join(report['not_loaded']),
            logger='current',
            level=logging.DEBUG)
    if report['unused']:
        print_log(
            f'FTANBackbone: checkpoint keys not used '
            f'({len(report["unused"])}): {_grouped(report["unused"])}',
            logger='current')


class MSCANPretrainedInit:
    """mmengine weight initializer that runs :func:`load_mscan_weights`.

    :meth:`FTANBackbone.init_weights` swaps ``dict(type='Pretrained', ...)``
    for this, so mmengine's initialisation bookkeeping stays as it is.

    Args:
        checkpoint (str): Local file or http(s) URL.
        **kwargs: The other arguments of :func:`load_mscan_weights`.
    """

    def __init__(self, checkpoint: str, **kwargs):
        self.checkpoint = checkpoint
        self.kwargs = kwargs

    def __call__(self, module: nn.Module) -> None:
        load_mscan_weights(module, self.checkpoint, **self.kwargs)
        if hasattr(module, '_params_init_info'):
            update_init_info(
                module, init_info=f'MSCAN weights from {self.checkpoint}')
